package storage

import "github.com/gregor-log/gregor/internal/record"

// indexer decides where index entries go as batches are laid down in a
// segment. Append, recovery and index rebuilds all use it, so an index
// rebuilt from a .log is the one the appends would have written.
type indexer struct {
	seg                  *segment
	bytesSinceEntry      int64 // batch bytes since the last offset index entry
	maxTimestamp         int64 // largest batch maxTimestamp in the segment so far, -1 if none
	offsetOfMaxTimestamp int64 // base offset of the first batch that reached maxTimestamp
	lastTimeEntry        int64 // timestamp of the last time index entry, -1 if none
}

// reset points the indexer at seg, whose tables already describe every
// batch before the bytesSinceEntry bytes at the end.
func (ix *indexer) reset(seg *segment, bytesSinceEntry, maxTimestamp, offsetOfMaxTimestamp int64) {
	*ix = indexer{seg: seg, bytesSinceEntry: bytesSinceEntry, maxTimestamp: maxTimestamp,
		offsetOfMaxTimestamp: offsetOfMaxTimestamp, lastTimeEntry: -1}
	if ts, _, ok := lastTimeEntry(seg.timeIndex.view()); ok {
		ix.lastTimeEntry = ts
	}
	if seg.index.buf.Load() == nil {
		seg.index.set(nil)
		seg.timeIndex.set(nil)
	}
}

// add accounts for the batch h written at pos. Following Kafka, the entry
// is for the first batch that starts at least indexInterval bytes after the
// previous entry, so the first batch of a segment has none (position 0 is
// the implicit entry).
func (ix *indexer) add(h *record.Header, pos int64, indexInterval int64) {
	if h.MaxTimestamp > ix.maxTimestamp {
		ix.maxTimestamp = h.MaxTimestamp
		ix.offsetOfMaxTimestamp = h.BaseOffset
	}
	if ix.bytesSinceEntry >= indexInterval {
		putOffsetEntry(ix.seg.index.next(), uint32(h.BaseOffset-ix.seg.baseOffset), uint32(pos))
		ix.seg.index.commit()
		ix.addTimeEntry()
		ix.bytesSinceEntry = 0
	}
	ix.bytesSinceEntry += int64(h.Size())
}

// addTimeEntry appends a time index entry if the largest timestamp grew
// since the last one. Called with each offset entry and, as the final
// entry, when the segment is rolled or the log closed.
func (ix *indexer) addTimeEntry() {
	if ix.maxTimestamp <= ix.lastTimeEntry {
		return
	}
	putTimeEntry(ix.seg.timeIndex.next(), ix.maxTimestamp, uint32(ix.offsetOfMaxTimestamp-ix.seg.baseOffset))
	ix.seg.timeIndex.commit()
	ix.lastTimeEntry = ix.maxTimestamp
}

// finish adds the final time entry (segment rolled or log closed).
func (ix *indexer) finish() { ix.addTimeEntry() }

// full reports whether either index has reached segment.index.bytes.
func (ix *indexer) full(indexBytes int32) bool {
	return int64(ix.seg.index.count()+1)*offsetEntrySize > int64(indexBytes) ||
		int64(ix.seg.timeIndex.count()+2)*timeEntrySize > int64(indexBytes)
}
