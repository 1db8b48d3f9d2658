package storage

import (
	"fmt"
	"math"
	"slices"

	"github.com/gregor-log/gregor/internal/record"
)

// Append writes whole, already validated batches (concatenated as in a
// produce request). It returns after the data is as durable as the flush
// policy demands. Appends are serialised; reads are never blocked by them.
//
// The bytes are written as they are, with baseOffset, partitionLeaderEpoch
// and (LogAppendTime) maxTimestamp rewritten in place in batches when
// AssignOffsets is set: the caller's buffer is modified. Nothing is written
// unless every batch passes the framing and offset checks.
func (l *Log) Append(batches []byte, opts AppendOptions) (AppendResult, error) {
	res, flush, err := l.AppendUnflushed(batches, opts)
	if err != nil {
		return AppendResult{}, err
	}
	if flush {
		if err := l.FlushTo(res.LastOffset + 1); err != nil {
			return AppendResult{}, err
		}
	}
	return res, nil
}

// AppendUnflushed is Append without the wait: it writes the batches and
// reports whether the flush policy wants them fsynced (FlushTo past
// LastOffset) before they are acknowledged.
func (l *Log) AppendUnflushed(batches []byte, opts AppendOptions) (AppendResult, bool, error) {
	l.writeMu.Lock()
	res, flush, err := l.appendLocked(batches, opts)
	l.writeMu.Unlock()
	if err != nil {
		return AppendResult{}, false, err
	}
	return res, flush, nil
}

// FlushTo returns once every offset below target is fsynced (group
// commit: one fsync serves every caller waiting when it starts).
func (l *Log) FlushTo(target int64) error { return l.flushTo(target) }

// appendLocked writes the batches and reports whether the flush policy
// wants them fsynced before the append is acknowledged.
func (l *Log) appendLocked(batches []byte, opts AppendOptions) (res AppendResult, flush bool, err error) {
	if err := l.checkWritableLocked(); err != nil {
		return res, false, err
	}
	cfg := l.config()
	records, gapEnd, err := l.checkBatchesLocked(batches, opts, cfg)
	if err != nil {
		return res, false, err
	}
	if err := l.markDirtyLocked(); err != nil {
		return res, false, l.failLocked(err)
	}
	// A follower copying a compacted leader's cleaned part gets gaps
	// between batches. They are below this log's cleaner checkpoint
	// before they are written (the range was compacted upstream), which
	// is where recovery accepts gaps (scanActive).
	if gapEnd > l.cleanerCheckpoint.Load() {
		if err := l.setCleanerCheckpoint(gapEnd, false); err != nil {
			return res, false, l.failLocked(err)
		}
	}
	ix, err := l.activeLocked()
	if err != nil {
		return res, false, err
	}
	// New epochs are durable before the batches that carry them.
	if err := l.assignEpochsLocked(batches, opts); err != nil {
		return res, false, l.failLocked(err)
	}

	res = AppendResult{FirstOffset: -1, MaxTimestamp: -1, OffsetOfMaxTimestamp: -1}
	interval := int64(cfg.IndexIntervalBytes)
	next := l.logEndOffset.Load()
	chunkStart := 0                // first byte of batches not yet written
	writePos := ix.seg.size.Load() // where batches[chunkStart] goes
	for pos := 0; pos < len(batches); {
		b := batches[pos:]
		h, _ := record.ReadHeader(b) // checked by checkBatchesLocked
		b = b[:h.Size()]
		if opts.AssignOffsets {
			record.SetBaseOffset(b, next)
			record.SetPartitionLeaderEpoch(b, opts.LeaderEpoch)
			h.BaseOffset, h.PartitionLeaderEpoch = next, opts.LeaderEpoch
			if opts.LogAppendTime != 0 {
				record.SetLogAppendTime(b, opts.LogAppendTime)
				h.MaxTimestamp = opts.LogAppendTime
			}
		}
		at := writePos + int64(pos-chunkStart)
		if l.needsRollLocked(ix, at, &h, cfg) {
			if err := l.writeChunkLocked(ix.seg, batches[chunkStart:pos], writePos, next); err != nil {
				return AppendResult{}, false, err
			}
			if err := l.rollLocked(h.BaseOffset); err != nil {
				return AppendResult{}, false, l.failLocked(err)
			}
			ix, chunkStart, writePos, at = l.w.active, pos, 0, 0
		}
		ix.add(&h, at, interval)
		if res.FirstOffset < 0 {
			res.FirstOffset = h.BaseOffset
		}
		if h.MaxTimestamp > res.MaxTimestamp {
			res.MaxTimestamp, res.OffsetOfMaxTimestamp = h.MaxTimestamp, h.BaseOffset
		}
		res.LastOffset = h.LastOffset()
		next = h.NextOffset()
		pos += h.Size()
	}
	if err := l.writeChunkLocked(ix.seg, batches[chunkStart:], writePos, next); err != nil {
		return AppendResult{}, false, err
	}
	l.appendedMessages.Add(records)
	return res, cfg.durable() || l.unflushedMessages() >= cfg.FlushMessages, nil
}

// checkBatchesLocked checks framing and offsets of every batch before
// anything is written, and counts the records. gapEnd is the offset after
// the last follower batch that starts beyond the end of the one before
// (0 if none).
func (l *Log) checkBatchesLocked(batches []byte, opts AppendOptions, cfg *Config) (records, gapEnd int64, err error) {
	if len(batches) == 0 {
		return 0, 0, fmt.Errorf("%w: no batches", ErrInvalidBatches)
	}
	latest := l.epochs.latest()
	if opts.AssignOffsets && opts.LeaderEpoch < latest {
		return 0, 0, fmt.Errorf("%w: epoch %d, log has %d", ErrStaleLeaderEpoch, opts.LeaderEpoch, latest)
	}
	next := l.logEndOffset.Load()
	for pos := 0; pos < len(batches); {
		h, err := record.ReadHeader(batches[pos:])
		if err != nil {
			return 0, 0, fmt.Errorf("%w: batch at byte %d: %w", ErrInvalidBatches, pos, err)
		}
		if h.Size() > len(batches)-pos {
			return 0, 0, fmt.Errorf("%w: batch at byte %d: %w", ErrInvalidBatches, pos, record.ErrShort)
		}
		if int64(h.Size()) > cfg.SegmentBytes {
			return 0, 0, fmt.Errorf("%w: %d bytes, segment.bytes %d", ErrBatchTooLarge, h.Size(), cfg.SegmentBytes)
		}
		if opts.AssignOffsets {
			next += int64(h.LastOffsetDelta) + 1
		} else {
			// Never backwards. Forwards only where a compacted leader
			// left a gap: recovery relies on contiguity to detect a
			// damaged baseOffset (the CRC does not cover it), so the
			// caller moves the cleaner checkpoint past every gap first.
			if h.BaseOffset < next {
				return 0, 0, fmt.Errorf("%w: baseOffset %d, log end offset %d", ErrUnexpectedOffset, h.BaseOffset, next)
			}
			if h.BaseOffset > next {
				gapEnd = h.NextOffset()
			}
			if h.PartitionLeaderEpoch < latest {
				return 0, 0, fmt.Errorf("%w: batch at %d has epoch %d, log has %d", ErrStaleLeaderEpoch, h.BaseOffset, h.PartitionLeaderEpoch, latest)
			}
			latest = h.PartitionLeaderEpoch
			next = h.NextOffset()
		}
		if next < 0 { // overflow
			return 0, 0, fmt.Errorf("%w: offsets overflow", ErrInvalidBatches)
		}
		records += int64(h.RecordCount)
		pos += h.Size()
	}
	return records, gapEnd, nil
}

// assignEpochsLocked records the epochs the batches start. Checked by
// checkBatchesLocked: epochs do not decrease.
func (l *Log) assignEpochsLocked(batches []byte, opts AppendOptions) error {
	if opts.AssignOffsets {
		return l.epochs.assign(opts.LeaderEpoch, l.logEndOffset.Load())
	}
	for pos := 0; pos < len(batches); {
		h, _ := record.ReadHeader(batches[pos:])
		if h.PartitionLeaderEpoch > l.epochs.latest() {
			if err := l.epochs.assign(h.PartitionLeaderEpoch, h.BaseOffset); err != nil {
				return err
			}
		}
		pos += h.Size()
	}
	return nil
}

// needsRollLocked reports whether batch h, which would start at position
// at of the active segment, must go to a new segment instead.
func (l *Log) needsRollLocked(ix *indexer, at int64, h *record.Header, cfg *Config) bool {
	if at == 0 {
		return h.BaseOffset != ix.seg.baseOffset && h.LastOffset()-ix.seg.baseOffset > math.MaxUint32
	}
	switch {
	case at+int64(h.Size()) > cfg.SegmentBytes:
		return true
	case h.LastOffset()-ix.seg.baseOffset > math.MaxUint32:
		return true // relative offsets are uint32
	case ix.full(cfg.SegmentIndexBytes):
		return true
	case cfg.SegmentMs > 0 && l.clock().Sub(l.w.rollStart) >= cfg.SegmentMs:
		return true
	}
	return false
}

// writeChunkLocked writes consecutive batches at pos of segment s and
// publishes them (logEndOffset, then size; see Log). next is the offset
// after the last of them.
func (l *Log) writeChunkLocked(s *segment, chunk []byte, pos int64, next int64) error {
	if len(chunk) == 0 {
		return nil
	}
	if pos == 0 {
		l.w.rollStart = l.clock()
	}
	f, err := s.openFile()
	if err != nil {
		return l.failLocked(err)
	}
	if _, err := f.WriteAt(chunk, pos); err != nil {
		// Whatever reached the file beyond pos is invisible (size is not
		// advanced) and will be overwritten or cut by recovery.
		return l.failLocked(err)
	}
	l.logEndOffset.Store(next)
	s.size.Store(pos + int64(len(chunk)))
	return nil
}

// rollLocked closes the active segment for appends and starts a new one at
// base. The old segment and its indexes are made durable first, so that
// recovery never needs to look at any segment but the last.
func (l *Log) rollLocked(base int64) error {
	old := l.w.active
	old.finish()
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	f, err := old.seg.openFile()
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := old.seg.syncAndCloseIndexes(); err != nil {
		return err
	}
	if leo := l.logEndOffset.Load(); leo > l.flushedOffset.Load() {
		l.flushedOffset.Store(leo)
	}
	l.flushedMessages.Store(l.appendedMessages.Load())
	s, err := l.createSegment(base)
	if err != nil {
		return err
	}
	segs := append(slices.Clip(l.segs()), s)
	l.segments.Store(&segs)
	ix := &indexer{}
	ix.reset(s, 0, -1, -1)
	l.w.active = ix
	l.w.rollStart = l.clock()
	return nil
}
