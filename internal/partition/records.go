package partition

import (
	"errors"
	"fmt"

	"github.com/gregor-log/gregor/internal/record"
)

// maxDecompressedBytes bounds what one compressed batch may expand to while
// it is checked, so a small "zip bomb" cannot make the broker allocate
// without limit. Real producers cap batches at a few MiB before
// compression; a batch beyond this is refused as too large.
const maxDecompressedBytes = 128 << 20

// checkRecords validates the records inside one batch whose header and CRC
// already checked out: they must decompress and parse (CORRUPT_MESSAGE),
// carry offset deltas 0, 1, 2, … (INVALID_RECORD), and on a compacted topic
// every record needs a key (INVALID_RECORD): compaction keeps the last
// record per key, so a record without one could never be compacted.
func checkRecords(b []byte, h *record.Header, cfg *Config) error {
	var err error
	if cfg.Compacted {
		err = checkKeyedRecords(b)
	} else {
		err = record.CheckProduce(b, *h, maxDecompressedBytes)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, record.ErrTooLarge):
		return fmt.Errorf("%w: %w", ErrMessageTooLarge, err)
	case errors.Is(err, record.ErrInvalidRecord):
		return fmt.Errorf("%w: %w", ErrInvalidRecord, err)
	}
	return err
}

// RecordError is a batch refused because of one of its records; the
// produce response names it (KIP-467 record errors). Index is the record's
// position in its batch.
type RecordError struct {
	Index int32
	Err   error
}

func (e *RecordError) Error() string { return fmt.Sprintf("record %d: %v", e.Index, e.Err) }
func (e *RecordError) Unwrap() error { return e.Err }

// checkKeyedRecords is CheckProduce's record walk plus the null-key rule of
// compacted topics, in one pass (one decompression). The header-level rules
// CheckProduce also applies were checked by checkHeader. The iterator is
// not pooled: its decompression buffer is private to the record package,
// so a pool could pin arbitrarily large ones.
func checkKeyedRecords(b []byte) error {
	var it record.RecordIter
	if err := it.Reset(b, maxDecompressedBytes); err != nil {
		return err
	}
	var want int32
	for r, ok := it.Next(); ok; r, ok = it.Next() {
		if r.OffsetDelta != want {
			return fmt.Errorf("%w: record %d has offsetDelta %d", ErrInvalidRecord, want, r.OffsetDelta)
		}
		if r.Key == nil {
			return &RecordError{Index: want, Err: fmt.Errorf("%w: a compacted topic needs a key on every record", ErrInvalidRecord)}
		}
		want++
	}
	return it.Err()
}
