package partition

import (
	"context"
	"errors"
	"fmt"

	"github.com/gregor-log/gregor/internal/record"
	"github.com/gregor-log/gregor/internal/storage"
)

// ProduceResult is what a produce to one partition answers.
type ProduceResult struct {
	BaseOffset     int64
	LogAppendTime  int64 // -1 unless the topic uses LogAppendTime
	LogStartOffset int64
}

// Produce validates and appends the batches of one partition of a produce
// request (the records field: one or more v2 batches). acks 0 and 1 return
// once the leader has the data (durable under the flush policy); acks -1
// also waits until the high watermark covers it (all of the ISR), or until
// ctx ends (ctx.Err() is returned: REQUEST_TIMED_OUT). A retried idempotent
// batch that duplicates one of the last five of its producer returns the
// original offsets without writing.
//
// Every batch is validated before anything is written: one bad batch fails
// the whole call and leaves the log untouched. Errors, by Kafka code:
//
//   - record.ErrCorrupt (CORRUPT_MESSAGE): bad CRC, lengths that do not fit,
//     records that do not parse or decompress.
//   - ErrInvalidRecord (INVALID_RECORD): magic != 2 (Kafka refuses v0/v1
//     batches in produce v3+ with INVALID_RECORD), control batches, record
//     count inconsistent with the offset range, negative sequence or epoch
//     on an idempotent batch, null keys on a compacted topic.
//   - ErrMessageTooLarge, ErrTransactionsDisabled, ErrOutOfOrderSequence,
//     ErrInvalidProducerEpoch, ErrNotLeader, ErrClosed.
//   - anything else is a storage failure (KAFKA_STORAGE_ERROR).
//
// On topics with message.timestamp.type=LogAppendTime each batch's max
// timestamp is set to the broker's clock (the batches slice is modified in
// place) and that time is returned.
func (p *Partition) Produce(ctx context.Context, batches []byte, acks int16) (ProduceResult, error) {
	res := ProduceResult{BaseOffset: -1, LogAppendTime: -1, LogStartOffset: -1}
	cfg := p.config()
	nowMs := p.now().UnixMilli()
	// Stateless validation (CRC, decompression) runs outside the append
	// lock, so concurrent requests to one partition validate in parallel.
	if err := validateBatches(batches, &cfg, nowMs); err != nil {
		return res, err
	}
	a, err := p.append(batches)
	if err != nil {
		return res, err
	}
	res.BaseOffset = a.baseOffset
	res.LogStartOffset = p.Log.LogStartOffset()
	if cfg.LogAppendTime {
		res.LogAppendTime = a.appendTime
	}
	if acks == -1 {
		// acks=all: the request is complete once every ISR member has the
		// data, i.e. once the high watermark covers it. On a single node
		// that is already true after the append; replication changes only
		// how the high watermark moves, not this wait.
		if err := p.waitHighWatermark(ctx, a.lastOffset+1); err != nil {
			return res, err
		}
	}
	return res, nil
}

// validateBatches checks every batch of a produce request's records field
// without touching the partition state, and on LogAppendTime topics stamps
// nowMs on each batch once it is known to be valid.
func validateBatches(batches []byte, cfg *Config, nowMs int64) error {
	if len(batches) == 0 {
		return fmt.Errorf("%w: no record batch", ErrInvalidRecord)
	}
	for i, off := 0, 0; off < len(batches); i++ {
		rest := batches[off:]
		h, err := record.ReadHeader(rest)
		switch {
		case errors.Is(err, record.ErrUnsupportedMagic):
			return fmt.Errorf("%w: batch %d: %w", ErrInvalidRecord, i, err)
		case errors.Is(err, record.ErrShort):
			return fmt.Errorf("%w: batch %d: %w", record.ErrCorrupt, i, err)
		case err != nil:
			return fmt.Errorf("batch %d: %w", i, err)
		}
		size := h.Size()
		if size > len(rest) {
			return fmt.Errorf("%w: batch %d is %d bytes, %d left in the request", record.ErrCorrupt, i, size, len(rest))
		}
		b := rest[:size]
		if cfg.MaxMessageBytes > 0 && size > int(cfg.MaxMessageBytes) {
			return fmt.Errorf("%w: batch %d is %d bytes, max.message.bytes is %d", ErrMessageTooLarge, i, size, cfg.MaxMessageBytes)
		}
		if _, err := record.Validate(b); err != nil {
			return fmt.Errorf("batch %d: %w", i, err)
		}
		if err := checkHeader(&h); err != nil {
			return fmt.Errorf("batch %d: %w", i, err)
		}
		if err := checkTimestamps(&h, cfg, nowMs); err != nil {
			return fmt.Errorf("batch %d: %w", i, err)
		}
		if err := checkRecords(b, &h, cfg); err != nil {
			return fmt.Errorf("batch %d: %w", i, err)
		}
		if cfg.LogAppendTime {
			record.SetLogAppendTime(b, nowMs)
		}
		off += size
	}
	return nil
}

// checkHeader applies the header-level rules Kafka's log validator applies
// to batches from clients.
func checkHeader(h *record.Header) error {
	switch {
	case h.Control():
		return fmt.Errorf("%w: clients may not write control batches", ErrInvalidRecord)
	case h.Transactional():
		return ErrTransactionsDisabled
	case h.RecordCount <= 0:
		return fmt.Errorf("%w: record count %d", ErrInvalidRecord, h.RecordCount)
	case int64(h.LastOffsetDelta)+1 != int64(h.RecordCount):
		return fmt.Errorf("%w: %d records but lastOffsetDelta is %d", ErrInvalidRecord, h.RecordCount, h.LastOffsetDelta)
	case h.ProducerID < -1:
		return fmt.Errorf("%w: producer id %d", ErrInvalidRecord, h.ProducerID)
	case h.Idempotent() && (h.BaseSequence < 0 || h.ProducerEpoch < 0):
		return fmt.Errorf("%w: idempotent batch with sequence %d, epoch %d", ErrInvalidRecord, h.BaseSequence, h.ProducerEpoch)
	}
	return nil
}

// checkTimestamps applies message.timestamp.before/after.max.ms on
// CreateTime topics. It reads the batch header only: maxTimestamp bounds
// every record from above, and baseTimestamp (the first record's, as every
// client writes it) stands for the oldest. Kafka checks each record; this
// catches the same skewed clocks without a second pass over the records.
func checkTimestamps(h *record.Header, cfg *Config, nowMs int64) error {
	if cfg.LogAppendTime {
		return nil // the broker's clock replaces the producer's
	}
	if limit := cfg.MessageTimestampAfterMaxMs; limit > 0 && h.MaxTimestamp > nowMs && h.MaxTimestamp-nowMs > limit {
		return fmt.Errorf("%w: timestamp %d is more than %d ms ahead of the broker's clock", ErrInvalidTimestamp, h.MaxTimestamp, limit)
	}
	if limit := cfg.MessageTimestampBeforeMaxMs; limit > 0 && h.BaseTimestamp >= 0 && h.BaseTimestamp < nowMs && nowMs-h.BaseTimestamp > limit {
		return fmt.Errorf("%w: timestamp %d is more than %d ms behind the broker's clock", ErrInvalidTimestamp, h.BaseTimestamp, limit)
	}
	return nil
}

// pendingProducer is a producer's state as it will be once the batches
// being appended are written: checked and updated on a copy, stored back
// only after the append succeeded.
type pendingProducer struct {
	pid   int64
	known bool
	entry producerEntry
}

// appended is what the locked part of a produce reports.
type appended struct {
	baseOffset int64 // offset of the request's first batch (original one if a duplicate)
	lastOffset int64 // highest offset any batch of the request maps to
	appendTime int64 // the first batch's max timestamp as written
}

// append runs the sequence checks and the storage append as one step under
// the append lock. The batches are already validated.
func (p *Partition) append(batches []byte) (appended, error) {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	epoch, err := p.leaderEpochForAppend()
	if err != nil {
		return appended{}, err
	}
	nowMs := p.now().UnixMilli()
	// The partition is the log's only writer and holds appendMu, so the
	// offsets Append will assign are known in advance.
	first := p.Log.LogEndOffset()
	next := first
	a := appended{baseOffset: -1, lastOffset: -1}
	p.pending = p.pending[:0]
	p.duplicates = p.duplicates[:0]
	nDuplicates := 0
	for off := 0; off < len(batches); {
		h, err := record.ReadHeader(batches[off:])
		if err != nil {
			panic("partition: validated batch no longer parses: " + err.Error())
		}
		off += h.Size()
		base, last := next, next+int64(h.LastOffsetDelta)
		timestamp := h.MaxTimestamp
		duplicate := false
		if h.Idempotent() {
			pp := p.pendingFor(h.ProducerID, nowMs)
			v, err := checkBatch(&pp.entry, pp.known, h.ProducerEpoch, h.BaseSequence, h.LastSequence())
			if err != nil {
				return appended{}, fmt.Errorf("producer %d: %w", h.ProducerID, err)
			}
			if v.duplicate != nil {
				duplicate = true
				base, last = v.duplicate.FirstOffset, v.duplicate.LastOffset
				timestamp = v.duplicate.MaxTimestamp
			} else {
				pp.entry.add(h.ProducerEpoch, batchMetadata{
					FirstSequence: h.BaseSequence, LastSequence: h.LastSequence(),
					FirstOffset: base, LastOffset: last, MaxTimestamp: h.MaxTimestamp,
				}, nowMs)
				pp.known = true
			}
		}
		if a.baseOffset < 0 {
			a.baseOffset = base
			a.appendTime = timestamp
		}
		a.lastOffset = max(a.lastOffset, last)
		if duplicate {
			nDuplicates++
		} else {
			next = last + 1
		}
		p.duplicates = append(p.duplicates, duplicate)
	}
	if nDuplicates == len(p.duplicates) {
		return a, nil // every batch was written before: nothing to do
	}
	toWrite := batches
	if nDuplicates > 0 {
		// Some batches were written before (a retry after a crash that kept
		// part of the original request): write only the new ones. Rare, so
		// the copy is fine.
		toWrite = withoutDuplicates(batches, p.duplicates)
	}
	res, err := p.Log.Append(toWrite, storage.AppendOptions{AssignOffsets: true, LeaderEpoch: epoch})
	if err != nil {
		return appended{}, err
	}
	if res.FirstOffset != first || res.LastOffset != next-1 {
		panic(fmt.Sprintf("partition: log assigned offsets %d..%d, expected %d..%d: another writer?",
			res.FirstOffset, res.LastOffset, first, next-1))
	}
	for i := range p.pending {
		pp := &p.pending[i]
		if pp.known {
			p.producers.store(pp.pid, pp.entry, nowMs)
		}
	}
	p.bytesSinceSnapshot += int64(len(toWrite))
	p.maybeSnapshotLocked(res.LastOffset + 1)
	// Append returned, so the data is as durable as the flush policy asks:
	// on a single node that is the whole ISR.
	p.advanceHighWatermark(res.LastOffset + 1)
	return a, nil
}

// pendingFor returns the pending state of producer pid for this request,
// loading it from the table on first use. The pointer is valid until the
// next call.
func (p *Partition) pendingFor(pid, nowMs int64) *pendingProducer {
	for i := range p.pending {
		if p.pending[i].pid == pid {
			return &p.pending[i]
		}
	}
	e, known := p.producers.lookup(pid, nowMs)
	p.pending = append(p.pending, pendingProducer{pid: pid, known: known, entry: e})
	return &p.pending[len(p.pending)-1]
}

// withoutDuplicates copies the batches not flagged as duplicates.
func withoutDuplicates(batches []byte, duplicates []bool) []byte {
	out := make([]byte, 0, len(batches))
	for i, off := 0, 0; off < len(batches); i++ {
		h, _ := record.ReadHeader(batches[off:])
		if !duplicates[i] {
			out = append(out, batches[off:off+h.Size()]...)
		}
		off += h.Size()
	}
	return out
}
