package record

import (
	"errors"
	"fmt"
	"sync"
)

// ErrInvalidRecord marks a batch that parses but breaks a rule Kafka's leader
// enforces on produce (Kafka's INVALID_RECORD, which clients do not retry,
// unlike CORRUPT_MESSAGE). Errors carrying it also wrap ErrCorrupt, so a
// caller that only checks ErrCorrupt still refuses the batch; a caller that
// maps errors to Kafka codes should test ErrInvalidRecord first.
var ErrInvalidRecord = errors.New("record: invalid record")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %w: "+format, append([]any{ErrInvalidRecord, ErrCorrupt}, args...)...)
}

// CheckProduce does what Kafka's leader does with a client's batch before
// appending it, beyond the header and CRC (call Validate first and pass its
// header): the batch must not be a control batch (only the transaction
// coordinator writes markers), must hold at least one record, and its
// recordCount must equal lastOffsetDelta+1; its records block must
// decompress within maxDecompressed bytes (<= 0: MaxBatchSize) and parse;
// and the records must carry offset deltas 0, 1, 2, … in order, which is what
// every client writes and what makes offsets assigned by the batch header
// the records' real offsets.
//
// The error is a wrapped ErrInvalidRecord (also ErrCorrupt) for a rule
// broken, ErrCorrupt for bytes that do not parse, or ErrTooLarge.
func CheckProduce(batch []byte, h Header, maxDecompressed int) error {
	if h.Control() {
		return invalid("clients may not write control batches")
	}
	if h.RecordCount <= 0 {
		return invalid("recordCount %d", h.RecordCount)
	}
	if int64(h.RecordCount) != int64(h.LastOffsetDelta)+1 {
		return invalid("recordCount %d but lastOffsetDelta %d", h.RecordCount, h.LastOffsetDelta)
	}
	it := checkIters.Get().(*RecordIter)
	defer putCheckIter(it)
	if err := it.Reset(batch, maxDecompressed); err != nil {
		return err
	}
	var want int32
	for r, ok := it.Next(); ok; r, ok = it.Next() {
		if r.OffsetDelta != want {
			return invalid("record %d has offsetDelta %d", want, r.OffsetDelta)
		}
		want++
	}
	return it.Err()
}

// checkIters keeps iterators, with their decompression buffers, for
// CheckProduce: the records are looked at and dropped, so the buffer can
// serve the next batch. Buffers above checkBufMax are let go rather than
// pinned by the pool.
var checkIters = sync.Pool{New: func() any { return new(RecordIter) }}

const checkBufMax = 1 << 20

func putCheckIter(it *RecordIter) {
	if cap(it.buf) > checkBufMax {
		it.buf = nil
	}
	it.rest = nil
	checkIters.Put(it)
}
