package storage

import (
	"math"
	"os"
	"sort"
)

// Recovery after an unclean shutdown (no clean-shutdown marker).
//
// Only the active segment can hold bytes that were never fsynced: a roll
// fsyncs the old segment and its indexes before the new segment exists.
// And index entries reach the index files only once the batches they point
// at are fsynced (see flushLocked). So everything that a crash may have
// torn or lost lies after the last entry of the active segment's offset
// index on disk, and recovery scans from there (from 0 if the index does
// not check out):
//
//  1. each batch must pass record's header checks and its CRC32C, start
//     exactly at the offset where the previous one ended (the CRC does not
//     cover baseOffset; below the cleaner checkpoint a later offset is
//     accepted, compaction leaves gaps there), and carry the leader epoch that the leader-epoch
//     checkpoint (written ahead of the data) says is in effect at its
//     offset (the CRC does not cover partitionLeaderEpoch either);
//  2. the file is truncated at the first batch that fails;
//  3. both indexes are rebuilt for the scanned part and rewritten.
//
// The result is exactly a prefix of what was appended: every acknowledged
// batch (fsynced before its append returned) is in it.

// recoverActive recovers segment s, the last one, and returns the log end
// offset. It leaves the appender's state ready (Log.w.active).
func (l *Log) recoverActive(s *segment) (int64, error) {
	// A private descriptor, closed when done: after a crash every
	// partition is recovered, and holding three descriptors each would
	// exhaust the limit of a broker with many partitions. segment.file
	// stays lazy.
	f, err := os.OpenFile(s.path(logExt), os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := fi.Size()
	idx, _ := os.ReadFile(s.path(indexExt)) // a missing or unreadable index is rebuilt
	tidx, _ := os.ReadFile(s.path(timeIndexExt))
	n, errIdx := checkIndex(idx, size)
	m, errTime := checkTimeIndex(tidx, math.MaxUint32+1)
	if errIdx != nil || errTime != nil {
		n, m = 0, 0
	}
	ix, end, leo, err := l.scanActive(s, f, size, idx[:n*offsetEntrySize], tidx[:m*timeEntrySize])
	if err != nil {
		return 0, err
	}
	if ix == nil { // the last index entry does not point at a good batch
		if ix, end, leo, err = l.scanActive(s, f, size, nil, nil); err != nil {
			return 0, err
		}
	}
	if end < size {
		if err := f.Truncate(end); err != nil {
			return 0, err
		}
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	s.size.Store(end)
	if err := s.rewriteIndexes(); err != nil {
		return 0, err
	}
	// The rewritten index files are not fsynced (nor their directory
	// entries): they only point at batches fsynced above, and whatever of
	// them a crash loses, the next recovery finds out and rebuilds. One
	// fsync per partition keeps opening thousands of partitions after a
	// crash fast.
	if err := s.closeIndexFiles(); err != nil {
		return 0, err
	}
	s.indexLoaded.Store(true)
	l.w.active = ix
	l.w.rollStart = l.clock()
	return leo, nil
}

// scanActive validates the batches of s from its last offset entry (from 0
// when idx is empty) and fills the tables. It returns a nil indexer when
// the batch at the last entry is not the one the entry names, so the
// caller rescans from 0.
func (l *Log) scanActive(s *segment, f *os.File, size int64, idx, tidx []byte) (*indexer, int64, int64, error) {
	var pos, next int64 = 0, s.baseOffset
	maxTs, offsetOfMaxTs := int64(-1), int64(-1)
	if n := len(idx) / offsetEntrySize; n > 0 {
		rel, p := offsetEntry(idx, n-1)
		pos, next = int64(p), s.baseOffset+int64(rel)
		// Time entries up to the last offset entry cover every batch
		// before it (entries of both kinds are added together, and the
		// time index is written first).
		k := sort.Search(len(tidx)/timeEntrySize, func(i int) bool {
			_, r := timeEntry(tidx, i)
			return r > rel
		})
		tidx = tidx[:k*timeEntrySize]
		if ts, r, ok := lastTimeEntry(tidx); ok {
			maxTs, offsetOfMaxTs = ts, s.baseOffset+int64(r)
		}
	} else {
		tidx = nil
	}
	s.index.set(idx)
	s.timeIndex.set(tidx)
	ix := &indexer{}
	ix.reset(s, 0, maxTs, offsetOfMaxTs)
	scanFrom := pos
	interval := int64(l.config().IndexIntervalBytes)
	epochs := l.epochs.list()
	learnEpochs := len(epochs) == 0
	cleaned := l.cleanerCheckpoint.Load()

	c := newCursor(f, size)
	defer c.release()
	s.verify.Lock()
	defer s.verify.Unlock()
	for pos < size {
		h, err := c.validate(pos)
		if err != nil && !isCorrupt(err) {
			return nil, 0, 0, err
		}
		// Batches follow each other exactly, except below the cleaner
		// checkpoint, where compaction left gaps (a cleaned segment is
		// active again only after a truncation).
		gapOK := h.BaseOffset > next && h.LastOffset() < cleaned
		if err != nil || (h.BaseOffset != next && !gapOK) || h.LastOffset()-s.baseOffset > math.MaxUint32 ||
			!epochAt(epochs, h.BaseOffset, h.PartitionLeaderEpoch) {
			if pos == scanFrom && scanFrom > 0 {
				return nil, 0, 0, nil
			}
			break
		}
		if learnEpochs && h.PartitionLeaderEpoch > l.epochs.latest() {
			if err := l.epochs.assign(h.PartitionLeaderEpoch, h.BaseOffset); err != nil {
				return nil, 0, 0, err
			}
		}
		ix.add(&h, pos, interval)
		next = h.NextOffset()
		pos += int64(h.Size())
	}
	s.verify.spans = []span{{scanFrom, pos}}
	s.verify.trustedFrom.Store(pos)
	return ix, pos, next, nil
}
