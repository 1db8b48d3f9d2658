package partition

import (
	"context"
	"errors"
	"fmt"
	"sync"

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
//   - acks -1 only: ErrNotEnoughReplicas (the ISR is smaller than
//     min.insync.replicas; nothing written), ErrNotEnoughReplicasAfterAppend
//     (it shrank below while the request waited; the data is written).
//   - anything else is a storage failure (KAFKA_STORAGE_ERROR).
//
// On topics with message.timestamp.type=LogAppendTime each batch's max
// timestamp is set to the broker's clock (the batches slice is modified in
// place) and that time is returned.
func (p *Partition) Produce(ctx context.Context, batches []byte, acks int16) (ProduceResult, error) {
	w, err := p.ProduceStart(batches, acks)
	if err != nil {
		return w.res, err
	}
	return w.Wait(ctx)
}

// PendingProduce is a produce whose batches are written but not yet
// acknowledged: Wait makes them as durable as the flush policy asks and,
// for acks=-1, waits for the high watermark.
type PendingProduce struct {
	p    *Partition
	res  ProduceResult
	a    appended
	acks int16
}

// ProduceStart is Produce without the waits: it validates and writes the
// batches (same checks, same errors) and returns before their fsync and
// before the ISR has them; Wait does the rest. Nothing is acknowledged
// until Wait returns.
//
// Why split: a connection's requests are answered in order, and a handler
// that fsyncs inside Produce makes each pipelined request of a producer
// (up to five for an idempotent one) pay an fsync of its own, one after
// the other. A caller that writes request N+1 while request N waits in
// Wait lets one fsync cover both, which after a slow fsync is the
// difference between one more fsync and five.
//
// The next ProduceStart of the same idempotent producer may run before
// Wait: its sequence checks see the state of the batches written here
// (in memory only until the fsync), and a retry of these batches answered
// as a duplicate waits for the same fsync in its own Wait.
func (p *Partition) ProduceStart(batches []byte, acks int16) (*PendingProduce, error) {
	w := &PendingProduce{p: p, acks: acks, res: ProduceResult{BaseOffset: -1, LogAppendTime: -1, LogStartOffset: -1}}
	// A replica that does not lead refuses before validating, as Kafka
	// does: a client with stale metadata learns where to go (with a
	// leader hint, KIP-951) without the broker decompressing batches it
	// will not write. The append checks again under its lock.
	if _, err := p.leaderEpochForAppend(); err != nil {
		return w, err
	}
	cfg := p.config()
	nowMs := p.now().UnixMilli()
	// Stateless validation (CRC, decompression) runs outside the append
	// lock, so concurrent requests to one partition validate in parallel.
	if err := validateBatches(batches, &cfg, nowMs); err != nil {
		return w, err
	}
	if acks == -1 {
		// min.insync.replicas: refuse before writing anything.
		if err := p.checkMinInsync(ErrNotEnoughReplicas); err != nil {
			return w, err
		}
	}
	a, err := p.append(batches)
	if err != nil {
		return w, err
	}
	w.a = a
	w.res.BaseOffset = a.baseOffset
	if cfg.LogAppendTime {
		w.res.LogAppendTime = a.appendTime
	}
	return w, nil
}

// Wait completes a ProduceStart: it fsyncs (or waits for the fsync
// covering) the written offsets when the flush policy asks, raises the
// leader's log end for the high watermark, and for acks=-1 waits as
// Produce does, with the same errors. ctx bounds only the high-watermark
// wait. Call it once.
func (w *PendingProduce) Wait(ctx context.Context) (ProduceResult, error) {
	p, a, acks := w.p, w.a, w.acks
	res := w.res
	if a.flush {
		if err := p.Log.FlushTo(a.lastOffset + 1); err != nil {
			res.BaseOffset = -1
			return res, err
		}
	}
	// The data is as durable as the flush policy asks: on a single node
	// that is the whole ISR. Waits may finish out of order; the high
	// watermark only ever rises, and an fsync covers every byte written
	// before it, so a later append being durable means the earlier ones
	// are too.
	p.appendedAsLeader(a.lastOffset + 1)
	res.LogStartOffset = p.Log.LogStartOffset()
	if acks == -1 {
		// acks=all: the request is complete once every ISR member has the
		// data, i.e. once the high watermark covers it. On a single node
		// that is already true after the append; replication changes only
		// how the high watermark moves, not this wait.
		if err := p.waitHighWatermark(ctx, a.lastOffset+1); err != nil {
			return res, err
		}
		// The ISR may have shrunk below min.insync.replicas while the
		// request waited (the high watermark then moves without the
		// laggards): the data is written but not as replicated as asked.
		if err := p.checkMinInsync(ErrNotEnoughReplicasAfterAppend); err != nil {
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

// appended is what the write part of a produce reports.
type appended struct {
	baseOffset int64 // offset of the request's first batch (original one if a duplicate)
	lastOffset int64 // highest offset any batch of the request maps to
	appendTime int64 // the first batch's max timestamp as written
	flush      bool  // the flush policy wants the offsets up to lastOffset fsynced before the acknowledgement
}

// Offsets of batches checked but not yet written are not known: the log
// assigns them. Until the append returns, their metadata holds the offset
// relative to the first batch written, encoded as -(relative+1) so it can
// never be taken for a real (non-negative) offset; resolve turns it into
// the real one.
func pendingOffset(relative int64) int64 { return -(relative + 1) }

func resolve(offset, firstWritten int64) int64 {
	if offset >= 0 {
		return offset
	}
	return firstWritten + (-offset - 1)
}

// append writes validated batches. A request without idempotent batches
// needs no producer state, so it does not take the append lock. A request
// with idempotent batches runs its sequence checks, the append and the
// producer-state update as one step per producer, so two copies of one
// batch can never both be written. In both cases the storage append runs
// without the partition's locks, so concurrent appends meet there and share
// fsyncs (group commit).
func (p *Partition) append(batches []byte) (appended, error) {
	if !hasIdempotent(batches) {
		return p.appendPlain(batches)
	}
	return p.appendIdempotent(batches)
}

func hasIdempotent(batches []byte) bool {
	for off := 0; off < len(batches); {
		h, _ := record.ReadHeader(batches[off:]) // validated
		if h.Idempotent() {
			return true
		}
		off += h.Size()
	}
	return false
}

func (p *Partition) appendPlain(batches []byte) (appended, error) {
	epoch, err := p.leaderEpochForAppend()
	if err != nil {
		return appended{}, err
	}
	res, flush, err := p.Log.AppendUnflushed(batches, storage.AppendOptions{AssignOffsets: true, LeaderEpoch: epoch})
	if err != nil {
		return appended{}, err
	}
	h, _ := record.ReadHeader(batches)
	if p.bytesSinceSnapshot.Add(int64(len(batches))) >= p.snapshotInterval() && p.appendMu.TryLock() {
		// Plain batches change no producer state, but they lengthen the
		// scan after a crash; whoever holds the lock now snapshots later.
		p.maybeSnapshotLocked()
		p.appendMu.Unlock()
	}
	return appended{baseOffset: res.FirstOffset, lastOffset: res.LastOffset, appendTime: h.MaxTimestamp, flush: flush}, nil
}

// appendScratch is the per-request working memory of appendIdempotent,
// pooled so the produce path does not allocate.
type appendScratch struct {
	pending    []pendingProducer
	duplicates []bool
}

var appendScratches = sync.Pool{New: func() any { return new(appendScratch) }}

// appendIdempotent checks sequences, appends and updates producer state as
// one step per producer: under the append lock it waits until no earlier
// append of the same producers is between its check and its state update,
// checks the batches, and marks those producers in flight; the storage
// append (and its fsync) runs without the lock, so appends of different
// producers share fsyncs; the state update takes the lock again.
func (p *Partition) appendIdempotent(batches []byte) (appended, error) {
	sc := appendScratches.Get().(*appendScratch)
	defer func() {
		sc.pending, sc.duplicates = sc.pending[:0], sc.duplicates[:0]
		appendScratches.Put(sc)
	}()
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	for p.inFlightLocked(batches) {
		p.appendDone.Wait()
	}
	epoch, err := p.leaderEpochForAppend()
	if err != nil {
		return appended{}, err
	}
	nowMs := p.now().UnixMilli()
	var (
		written     int64 // offsets taken by the batches to write so far
		nDuplicates int
		a           appended
		firstSeen   bool
		firstIsNew  bool  // a.baseOffset is a pending offset
		dupLast     int64 = -1
	)
	for off := 0; off < len(batches); {
		h, err := record.ReadHeader(batches[off:])
		if err != nil {
			panic("partition: validated batch no longer parses: " + err.Error())
		}
		off += h.Size()
		base, last := pendingOffset(written), pendingOffset(written+int64(h.LastOffsetDelta))
		timestamp := h.MaxTimestamp
		duplicate := false
		if h.Idempotent() {
			pp := p.pendingFor(sc, h.ProducerID, nowMs)
			v, err := checkBatch(&pp.entry, pp.known, h.ProducerEpoch, h.BaseSequence, h.LastSequence())
			if err != nil {
				return appended{}, fmt.Errorf("producer %d: %w", h.ProducerID, err)
			}
			switch {
			case v.duplicate != nil && v.duplicate.FirstOffset < 0:
				return appended{}, fmt.Errorf("%w: producer %d sends sequences %d..%d twice in one request",
					ErrInvalidRecord, h.ProducerID, h.BaseSequence, h.LastSequence())
			case v.duplicate != nil:
				duplicate = true
				base, last = v.duplicate.FirstOffset, v.duplicate.LastOffset
				timestamp = v.duplicate.MaxTimestamp
			default:
				pp.entry.add(h.ProducerEpoch, batchMetadata{
					FirstSequence: h.BaseSequence, LastSequence: h.LastSequence(),
					FirstOffset: base, LastOffset: last, MaxTimestamp: h.MaxTimestamp,
				}, nowMs)
				pp.known = true
			}
		}
		if !firstSeen {
			firstSeen, firstIsNew = true, !duplicate
			a.baseOffset, a.appendTime = base, timestamp
		}
		if duplicate {
			nDuplicates++
			dupLast = max(dupLast, last)
		} else {
			written += int64(h.LastOffsetDelta) + 1
		}
		sc.duplicates = append(sc.duplicates, duplicate)
	}
	if nDuplicates == len(sc.duplicates) {
		a.lastOffset = dupLast
		// Every batch was written before, maybe by a request still
		// waiting for its fsync: this answer waits for the same.
		a.flush = p.config().Storage.FlushMessages <= 1
		return a, nil
	}
	toWrite := batches
	if nDuplicates > 0 {
		// Some batches were written before (a retry after a crash that kept
		// part of the original request): write only the new ones. Rare, so
		// the copy is fine.
		toWrite = withoutDuplicates(batches, sc.duplicates)
	}

	p.markInFlightLocked(sc, 1)
	p.appendMu.Unlock()
	res, flush, err := p.Log.AppendUnflushed(toWrite, storage.AppendOptions{AssignOffsets: true, LeaderEpoch: epoch})
	p.appendMu.Lock()
	p.markInFlightLocked(sc, -1)
	p.appendDone.Broadcast()
	if err != nil {
		return appended{}, err
	}

	if res.LastOffset-res.FirstOffset+1 != written {
		panic(fmt.Sprintf("partition: log assigned offsets %d..%d to batches declaring %d offsets", res.FirstOffset, res.LastOffset, written))
	}
	if firstIsNew {
		a.baseOffset = resolve(a.baseOffset, res.FirstOffset)
	}
	a.lastOffset = max(dupLast, res.LastOffset)
	for i := range sc.pending {
		pp := &sc.pending[i]
		if !pp.known {
			continue
		}
		for j := 0; j < int(pp.entry.count); j++ {
			b := pp.entry.batch(j)
			b.FirstOffset, b.LastOffset = resolve(b.FirstOffset, res.FirstOffset), resolve(b.LastOffset, res.FirstOffset)
		}
		p.producers.store(pp.pid, pp.entry, nowMs)
	}
	p.bytesSinceSnapshot.Add(int64(len(toWrite)))
	p.maybeSnapshotLocked()
	a.flush = flush || (nDuplicates > 0 && p.config().Storage.FlushMessages <= 1)
	return a, nil
}

// inFlightLocked reports whether a producer of these batches has an append
// between its check and its state update.
func (p *Partition) inFlightLocked(batches []byte) bool {
	if p.inFlightAppends == 0 {
		return false
	}
	for off := 0; off < len(batches); {
		h, _ := record.ReadHeader(batches[off:])
		if h.Idempotent() && p.inFlight[h.ProducerID] > 0 {
			return true
		}
		off += h.Size()
	}
	return false
}

// markInFlightLocked adds delta to the in-flight count of the request's
// producers.
func (p *Partition) markInFlightLocked(sc *appendScratch, delta int) {
	p.inFlightAppends += delta
	for i := range sc.pending {
		pid := sc.pending[i].pid
		if n := p.inFlight[pid] + delta; n > 0 {
			p.inFlight[pid] = n
		} else {
			delete(p.inFlight, pid)
		}
	}
}

// pendingFor returns the pending state of producer pid for this request,
// loading it from the table on first use. The pointer is valid until the
// next call.
func (p *Partition) pendingFor(sc *appendScratch, pid, nowMs int64) *pendingProducer {
	for i := range sc.pending {
		if sc.pending[i].pid == pid {
			return &sc.pending[i]
		}
	}
	e, known := p.producers.lookup(pid, nowMs)
	sc.pending = append(sc.pending, pendingProducer{pid: pid, known: known, entry: e})
	return &sc.pending[len(sc.pending)-1]
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
