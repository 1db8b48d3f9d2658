package storage

import (
	"sort"
)

// OffsetForTimestamp returns the first offset whose timestamp is >= ts, with
// that timestamp; ok is false when there is none (ListOffsets by time).
//
// Precision is the batch: the answer is the base offset and max timestamp
// of the first batch whose maxTimestamp is >= ts (never below the log start
// offset). TODO(record iterator): walk that batch's records for the exact
// first record with timestamp >= ts once internal/record can iterate them.
func (l *Log) OffsetForTimestamp(ts int64) (offset, timestamp int64, ok bool, err error) {
	if l.closed.Load() {
		return 0, 0, false, ErrClosed
	}
	logStart := l.logStartOffset.Load()
	interval := int64(l.config().IndexIntervalBytes)
	for _, s := range l.segs() {
		if err := s.loadIndexes(interval); err != nil {
			return 0, 0, false, err
		}
		segMax, _, _, err := s.maxTimestamp()
		if err != nil {
			return 0, 0, false, err
		}
		if segMax < ts {
			continue
		}
		f, err := s.openFile()
		if err != nil {
			return 0, 0, false, err
		}
		size := s.size.Load()
		from := max(s.baseOffset+lookupTime(s.timeIndex.view(), ts), logStart)
		c := newCursor(f, size)
		pos, _, found, err := c.seek(lookupOffset(s.index.view(), from-s.baseOffset, size), from)
		for found && err == nil && pos < size {
			h, e := c.header(pos)
			if e != nil {
				err = e
				break
			}
			if h.MaxTimestamp >= ts && h.LastOffset() >= logStart {
				c.release()
				return max(h.BaseOffset, logStart), h.MaxTimestamp, true, nil
			}
			pos += int64(h.Size())
		}
		c.release()
		if err != nil {
			return 0, 0, false, err
		}
	}
	return 0, 0, false, nil
}

// MaxTimestamp returns the largest timestamp in the log and its offset
// (ListOffsets with timestamp -3, KIP-734): the base offset of the first
// batch that has it (batch precision, see OffsetForTimestamp). (-1, -1)
// for an empty log.
func (l *Log) MaxTimestamp() (timestamp, offset int64, err error) {
	if l.closed.Load() {
		return -1, -1, ErrClosed
	}
	timestamp, offset = -1, -1
	logStart := l.logStartOffset.Load()
	interval := int64(l.config().IndexIntervalBytes)
	segs := l.segs()
	// Segments whose records all precede the log start do not count.
	first := sort.Search(len(segs), func(i int) bool { return segs[i].baseOffset > logStart }) - 1
	for _, s := range segs[max(first, 0):] {
		if err := s.loadIndexes(interval); err != nil {
			return -1, -1, err
		}
		ts, off, _, err := s.maxTimestamp()
		if err != nil {
			return -1, -1, err
		}
		if ts > timestamp {
			timestamp, offset = ts, max(off, logStart)
		}
	}
	return timestamp, offset, nil
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch: the largest epoch <=
// epoch known to the log and the offset where the next epoch starts (or the
// log end offset). (-1, -1) when the log has no epoch <= epoch.
//
// Unlike Kafka, an epoch older than every known one is (-1, -1) rather than
// (epoch, start of the first known epoch); callers that want Kafka's
// answer use the log start offset.
func (l *Log) EndOffsetForEpoch(epoch int32) (int32, int64) {
	return endOffsetFor(l.epochs.list(), epoch, l.logEndOffset.Load())
}
