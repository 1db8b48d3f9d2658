package storage

import (
	"os"
	"sort"

	"github.com/gregor-log/gregor/internal/record"
)

// maxTimestampLookupBytes bounds the decompressed records of the one batch
// a timestamp lookup parses (ListOffsets); beyond it the answer falls back
// to batch precision.
const maxTimestampLookupBytes = 64 << 20

// OffsetForTimestamp returns the first offset whose timestamp is >= ts, with
// that timestamp; ok is false when there is none (ListOffsets by time).
//
// It finds the first batch whose maxTimestamp is >= ts through the time and
// offset indexes, then parses that one batch's records (a copy in memory:
// this is ListOffsets, not the fetch path) for the first record at or
// after the log start offset with timestamp >= ts. A batch that does not
// parse gives batch precision: its base offset and max timestamp.
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
				offset, timestamp := recordAtTimestamp(f, pos, &h, ts, logStart)
				return offset, timestamp, true, nil
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
// (ListOffsets with timestamp -3, KIP-734): that of the first record that
// has it. (-1, -1) for an empty log.
func (l *Log) MaxTimestamp() (timestamp, offset int64, err error) {
	if l.closed.Load() {
		return -1, -1, ErrClosed
	}
	timestamp, offset = -1, -1
	logStart := l.logStartOffset.Load()
	interval := int64(l.config().IndexIntervalBytes)
	segs := l.segs()
	var best *segment
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
			best = s
		}
	}
	if best != nil {
		offset, err = recordOffsetOf(best, offset, timestamp, logStart)
	}
	return timestamp, offset, err
}

// recordOffsetOf refines the batch-precision answer (base offset, ts) of
// MaxTimestamp to the first record of that batch with timestamp ts.
func recordOffsetOf(s *segment, base, ts, logStart int64) (int64, error) {
	f, err := s.openFile()
	if err != nil {
		return base, err
	}
	size := s.size.Load()
	c := newCursor(f, size)
	defer c.release()
	pos, h, ok, err := c.seek(lookupOffset(s.index.view(), base-s.baseOffset, size), base)
	if err != nil || !ok {
		return base, err
	}
	offset, _ := recordAtTimestamp(f, pos, &h, ts, logStart)
	return offset, nil
}

// recordAtTimestamp returns the offset and timestamp of the first record
// of the batch h at pos whose timestamp is >= ts and offset >= logStart.
// When the batch cannot be read or parsed it falls back to the batch:
// max(base offset, logStart) and its max timestamp.
func recordAtTimestamp(f *os.File, pos int64, h *record.Header, ts, logStart int64) (int64, int64) {
	fallback, fallbackTs := max(h.BaseOffset, logStart), h.MaxTimestamp
	if h.Size() > maxTimestampLookupBytes {
		return fallback, fallbackTs
	}
	batch := make([]byte, h.Size())
	if err := readFullAt(f, batch, pos); err != nil {
		return fallback, fallbackTs
	}
	if _, err := record.Validate(batch); err != nil {
		return fallback, fallbackTs
	}
	var it record.RecordIter
	if err := it.Reset(batch, maxTimestampLookupBytes); err != nil {
		return fallback, fallbackTs
	}
	for r, ok := it.Next(); ok; r, ok = it.Next() {
		if r.Timestamp >= ts && r.Offset >= logStart {
			return r.Offset, r.Timestamp
		}
	}
	return fallback, fallbackTs
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
