package partition

// Idempotent-producer state: for every producer id that wrote to this
// partition, its epoch and the metadata of its last few batches. It is what
// lets the leader answer a retried batch with the offsets it got the first
// time instead of writing it twice, and refuse a batch that skipped a
// sequence number or comes from a fenced (older) epoch.
//
// The rules follow Kafka's producer state (2.5+, KIP-360):
//
//   - A batch whose epoch and sequence range equal one of the producer's
//     last five batches is a duplicate: nothing is written, the original
//     offsets are answered.
//   - A batch from an older epoch than the producer's current one is fenced
//     (INVALID_PRODUCER_EPOCH).
//   - The first batch of a newer epoch must start at sequence 0.
//   - Within an epoch, a batch must start right after the last sequence
//     (wrapping from MaxInt32 to 0), else OUT_OF_ORDER_SEQUENCE_NUMBER.
//   - A producer this partition has no state for (never seen, expired,
//     evicted, or its batches deleted by retention) is accepted at any
//     sequence. Kafka answered UNKNOWN_PRODUCER_ID here before 2.5; since
//     KIP-360 it accepts, because refusing forced clients to bump their
//     epoch after every retention pass over an idle producer. So
//     ErrUnknownProducerID is never returned by the produce path.
//
// Everything in this file is pure: no I/O, no clock, no locks. The caller
// (Produce, recovery) holds the partition's append lock.

import (
	"fmt"
	"math"
)

// maxBatchesPerProducer is how many batches of each producer are kept for
// duplicate detection: the client's max.in.flight.requests.per.connection
// cap for idempotence, so any retry refers to one of them.
const maxBatchesPerProducer = 5

// DefaultMaxProducers bounds the producer-state map of one partition when
// Config.MaxProducers is 0. An entry costs about 250 bytes, so the worst case
// is a few MiB per partition. At the cap the least recently active producer
// is evicted; if it comes back it is treated as unknown (accepted at any
// sequence), losing duplicate detection for that one producer only.
const DefaultMaxProducers = 5000

// DefaultProducerIDExpirationMs is Kafka's producer.id.expiration.ms
// default (one day): a producer that has not appended for that long is
// forgotten.
const DefaultProducerIDExpirationMs = 24 * 60 * 60 * 1000

// batchMetadata is what is remembered of one appended idempotent batch.
type batchMetadata struct {
	FirstSequence int32
	LastSequence  int32
	FirstOffset   int64
	LastOffset    int64
	MaxTimestamp  int64 // the batch's max timestamp, as written
}

// producerEntry is one producer's state. It is a plain value (no pointers)
// so the produce path can copy it, change the copy while it checks a
// request's batches, and store it back only once the append succeeded.
type producerEntry struct {
	Epoch int16
	// LastAppendMs is the broker's wall clock at the producer's last append
	// (or at recovery, for producers rebuilt from the log): expiration uses
	// the broker's clock, not client timestamps, so a producer replaying old
	// data is not expired on every batch.
	LastAppendMs int64
	// batches[(head+i) % maxBatchesPerProducer] for i < count is the i-th
	// oldest remembered batch; count >= 1 for every stored entry.
	batches [maxBatchesPerProducer]batchMetadata
	head    uint8
	count   uint8
}

// last returns the producer's most recent batch; count must be > 0.
func (e *producerEntry) last() *batchMetadata {
	if e.count == 0 {
		panic("partition: producer entry without batches")
	}
	return &e.batches[(int(e.head)+int(e.count)-1)%maxBatchesPerProducer]
}

// batch returns the i-th oldest remembered batch.
func (e *producerEntry) batch(i int) *batchMetadata {
	return &e.batches[(int(e.head)+i)%maxBatchesPerProducer]
}

// findDuplicate returns the remembered batch with exactly this sequence
// range in this epoch, or nil.
func (e *producerEntry) findDuplicate(epoch int16, firstSeq, lastSeq int32) *batchMetadata {
	if epoch != e.Epoch {
		return nil
	}
	for i := 0; i < int(e.count); i++ {
		b := e.batch(i)
		if b.FirstSequence == firstSeq && b.LastSequence == lastSeq {
			return b
		}
	}
	return nil
}

// add records an appended batch of epoch. A new epoch starts a new history,
// as the sequence numbers restart at 0.
func (e *producerEntry) add(epoch int16, b batchMetadata, nowMs int64) {
	if epoch != e.Epoch || e.count == 0 {
		e.Epoch = epoch
		e.head, e.count = 0, 0
	}
	if e.count == maxBatchesPerProducer {
		e.head = uint8((int(e.head) + 1) % maxBatchesPerProducer)
		e.count--
	}
	*e.batch(int(e.count)) = b
	e.count++
	if nowMs > e.LastAppendMs {
		e.LastAppendMs = nowMs
	}
}

// verdict is the outcome of checking one batch against its producer's state.
type verdict struct {
	duplicate *batchMetadata // non-nil: answer these offsets, write nothing
}

// checkBatch applies the sequence rules to one idempotent batch. known is
// false when the partition has no (unexpired) state for the producer; e is
// then ignored.
func checkBatch(e *producerEntry, known bool, epoch int16, firstSeq, lastSeq int32) (verdict, error) {
	if !known {
		return verdict{}, nil
	}
	if dup := e.findDuplicate(epoch, firstSeq, lastSeq); dup != nil {
		return verdict{duplicate: dup}, nil
	}
	switch {
	case epoch < e.Epoch:
		return verdict{}, fmt.Errorf("%w: batch epoch %d, producer is at epoch %d", ErrInvalidProducerEpoch, epoch, e.Epoch)
	case epoch > e.Epoch:
		if firstSeq != 0 {
			return verdict{}, fmt.Errorf("%w: first batch of epoch %d starts at sequence %d, want 0", ErrOutOfOrderSequence, epoch, firstSeq)
		}
		return verdict{}, nil
	}
	if last := e.last().LastSequence; !inSequence(last, firstSeq) {
		return verdict{}, fmt.Errorf("%w: batch starts at sequence %d, expected %d", ErrOutOfOrderSequence, firstSeq, nextSequence(last))
	}
	return verdict{}, nil
}

// nextSequence is the sequence after last; sequences wrap to 0 after MaxInt32.
func nextSequence(last int32) int32 {
	if last == math.MaxInt32 {
		return 0
	}
	return last + 1
}

func inSequence(last, next int32) bool { return next == nextSequence(last) }

// producerTable is the partition's producer state, keyed by producer id,
// bounded by maxProducers. Not safe for concurrent use: the partition's
// append lock guards it.
type producerTable struct {
	entries      map[int64]*producerEntry
	maxProducers int
	expirationMs int64
}

func newProducerTable(maxProducers int, expirationMs int64) *producerTable {
	t := &producerTable{entries: make(map[int64]*producerEntry)}
	t.configure(maxProducers, expirationMs)
	return t
}

// configure applies limits; zero values mean the defaults.
func (t *producerTable) configure(maxProducers int, expirationMs int64) {
	if maxProducers <= 0 {
		maxProducers = DefaultMaxProducers
	}
	if expirationMs <= 0 {
		expirationMs = DefaultProducerIDExpirationMs
	}
	t.maxProducers, t.expirationMs = maxProducers, expirationMs
}

// lookup returns a copy of the producer's state and whether it is known.
// An expired entry is reported unknown (and overwritten by the next store).
func (t *producerTable) lookup(pid int64, nowMs int64) (producerEntry, bool) {
	e, ok := t.entries[pid]
	if !ok || t.expired(e, nowMs) {
		return producerEntry{}, false
	}
	return *e, true
}

func (t *producerTable) expired(e *producerEntry, nowMs int64) bool {
	return nowMs-e.LastAppendMs >= t.expirationMs
}

// store saves a producer's state, evicting to stay under maxProducers.
func (t *producerTable) store(pid int64, e producerEntry, nowMs int64) {
	if cur, ok := t.entries[pid]; ok {
		*cur = e
		return
	}
	if len(t.entries) >= t.maxProducers {
		t.evict(nowMs)
	}
	ne := new(producerEntry)
	*ne = e
	t.entries[pid] = ne
}

// evict makes room for one entry: first every expired producer goes; if
// none had expired, the least recently active one. It scans the whole map,
// which is bounded by maxProducers and happens only when the table is full.
func (t *producerTable) evict(nowMs int64) {
	oldestPID, oldestMs := int64(-1), int64(math.MaxInt64)
	removed := false
	for pid, e := range t.entries {
		if t.expired(e, nowMs) {
			delete(t.entries, pid)
			removed = true
			continue
		}
		if e.LastAppendMs < oldestMs {
			oldestPID, oldestMs = pid, e.LastAppendMs
		}
	}
	if !removed && oldestPID >= 0 {
		delete(t.entries, oldestPID)
	}
}

// removeBefore forgets producers whose last batch is below logStartOffset:
// their data is gone (DeleteRecords, retention), as Kafka does, so a retry
// could not be answered with real offsets anyway.
func (t *producerTable) removeBefore(logStartOffset int64) {
	for pid, e := range t.entries {
		if e.last().LastOffset < logStartOffset {
			delete(t.entries, pid)
		}
	}
}

// removeExpired forgets every expired producer (before a snapshot).
func (t *producerTable) removeExpired(nowMs int64) {
	for pid, e := range t.entries {
		if t.expired(e, nowMs) {
			delete(t.entries, pid)
		}
	}
}

// replay applies a batch read back from the log (recovery): no checks, the
// log is the truth. Offsets are real; nowMs is the recovery time.
func (t *producerTable) replay(pid int64, epoch int16, b batchMetadata, nowMs int64) {
	var e producerEntry
	if cur, ok := t.entries[pid]; ok {
		e = *cur
	}
	e.add(epoch, b, nowMs)
	t.store(pid, e, nowMs)
}
