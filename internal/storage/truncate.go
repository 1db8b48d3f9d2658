package storage

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"

	"github.com/gregor-log/gregor/internal/fsutil"
)

// TruncateTo removes every batch at or after offset (followers, after
// OffsetForLeaderEpoch). offset is rounded down to a batch boundary. An
// offset at or beyond the log end offset changes nothing; one at or below
// the first segment's base empties the log (TruncateFullyAndStartAt).
//
// Readers racing with a truncation may see an I/O error or a short read
// for the truncated range; a Slice handed out before may then cover bytes
// appended after the truncation, at the same offsets (as in Kafka, readers
// of the truncated range are followers that are about to refetch it).
func (l *Log) TruncateTo(offset int64) error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if err := l.checkWritableLocked(); err != nil {
		return err
	}
	if offset >= l.logEndOffset.Load() {
		return nil
	}
	segs := l.segs()
	if offset <= segs[0].baseOffset {
		return l.truncateFullyLocked(max(offset, 0))
	}
	if err := l.markDirtyLocked(); err != nil {
		return l.failLocked(err)
	}
	i := sort.Search(len(segs), func(i int) bool { return segs[i].baseOffset > offset }) - 1
	s := segs[i]
	if err := s.loadIndexes(int64(l.config().IndexIntervalBytes)); err != nil {
		return err
	}
	f, err := s.openFile()
	if err != nil {
		return err
	}
	size := s.size.Load()
	c := newCursor(f, size)
	cut, h, ok, err := c.seek(lookupOffset(s.index.view(), offset-s.baseOffset, size), offset)
	c.release()
	if err != nil {
		return err
	}
	newEnd := offset
	if ok {
		newEnd = min(offset, h.BaseOffset)
	}

	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	// Later segments go first, last one first: a crash in between leaves a
	// longer prefix of the old log, never a hole.
	kept := slices.Clone(segs[:i+1])
	l.segments.Store(&kept)
	for j := len(segs) - 1; j > i; j-- {
		if err := segs[j].remove(); err != nil {
			return l.failLocked(err)
		}
	}
	if len(segs) > i+1 {
		// The removals must be durable before new batches reuse their
		// offsets in segment i: if the old segments came back after a
		// crash, the log would hold two versions of those offsets.
		if err := fsutil.SyncDir(l.dir); err != nil {
			return l.failLocked(err)
		}
	}
	s.size.Store(cut)
	l.logEndOffset.Store(newEnd)
	if err := f.Truncate(cut); err != nil {
		return l.failLocked(err)
	}
	if err := f.Sync(); err != nil {
		return l.failLocked(err)
	}
	s.verify.cut(cut)
	s.index.truncate(entriesBelowPos(s.index.view(), cut))
	tv := s.timeIndex.view()
	s.timeIndex.truncate(sort.Search(len(tv)/timeEntrySize, func(k int) bool {
		_, rel := timeEntry(tv, k)
		return s.baseOffset+int64(rel) >= newEnd
	}))
	if err := s.rewriteIndexes(); err != nil {
		return l.failLocked(err)
	}
	ix, err := tailIndexer(s)
	if err != nil {
		return l.failLocked(err)
	}
	l.w.active = ix
	l.w.rollStart = l.clock()
	l.flushedOffset.Store(min(l.flushedOffset.Load(), newEnd))
	if err := l.epochs.truncateFromEnd(newEnd); err != nil {
		return l.failLocked(err)
	}
	if err := l.setCleanerCheckpoint(newEnd, true); err != nil {
		return l.failLocked(err)
	}
	if l.logStartOffset.Load() > newEnd {
		return l.setLogStartOffsetLocked(newEnd)
	}
	return nil
}

// TruncateFullyAndStartAt deletes every segment and restarts the log empty
// at offset, with LogStartOffset = LogEndOffset = offset and no leader
// epochs (a follower whose log end is below the leader's log start).
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if err := l.checkWritableLocked(); err != nil {
		return err
	}
	if offset < 0 {
		return fmt.Errorf("%w: %d", ErrOffsetOutOfRange, offset)
	}
	return l.truncateFullyLocked(offset)
}

func (l *Log) truncateFullyLocked(offset int64) error {
	if err := l.markDirtyLocked(); err != nil {
		return l.failLocked(err)
	}
	// The new start offset is durable before any segment goes, so a crash
	// in between cannot resurrect the old records at their old offsets.
	if err := l.setLogStartOffsetLocked(offset); err != nil {
		return err
	}
	if err := l.epochs.clear(); err != nil {
		return l.failLocked(err)
	}
	if err := l.setCleanerCheckpoint(offset, true); err != nil {
		return l.failLocked(err)
	}
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	segs := l.segs()
	for j := len(segs) - 1; j >= 0; j-- {
		if err := segs[j].remove(); err != nil {
			return l.failLocked(err)
		}
	}
	s, err := l.createSegment(offset)
	if err != nil {
		return l.failLocked(err)
	}
	l.segments.Store(&[]*segment{s})
	l.logEndOffset.Store(offset)
	l.logStartOffset.Store(offset)
	l.flushedOffset.Store(offset)
	ix := &indexer{}
	ix.reset(s, 0, -1, -1)
	l.w.active = ix
	l.w.rollStart = l.clock()
	return nil
}

// DeleteRecordsBefore moves the log start offset to offset, deleting whole
// segments that fall below it. The new start offset is persisted (the
// log-start-offset checkpoint) before it is visible or any segment is
// deleted. offset above the log end offset is ErrOffsetOutOfRange; one at
// or below the log start offset changes nothing.
//
// Deleted segments are retired (see retention.go): a reader holding a
// Slice of one keeps reading its old bytes until file.delete.delay.ms has
// passed, then gets an I/O error (os.ErrClosed), never bytes of another
// segment; Read reports ErrOffsetOutOfRange for offsets below the start.
func (l *Log) DeleteRecordsBefore(offset int64) error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if err := l.checkWritableLocked(); err != nil {
		return err
	}
	leo := l.logEndOffset.Load()
	if offset > leo {
		return fmt.Errorf("%w: %d beyond log end offset %d", ErrOffsetOutOfRange, offset, leo)
	}
	if offset <= l.logStartOffset.Load() {
		return nil
	}
	if err := l.markDirtyLocked(); err != nil {
		return l.failLocked(err)
	}
	if err := l.setLogStartOffsetLocked(offset); err != nil {
		return err
	}
	if err := l.epochs.truncateFromStart(offset); err != nil {
		return l.failLocked(err)
	}
	segs := l.segs()
	if last := segs[len(segs)-1]; offset == leo && last.baseOffset < leo {
		// Everything goes: roll so that the active segment can go too.
		if _, err := l.activeLocked(); err != nil {
			return err
		}
		if err := l.rollLocked(leo); err != nil {
			return l.failLocked(err)
		}
		segs = l.segs()
	}
	// Segment j is wholly below offset when the next one starts at or
	// before it; the last segment always stays.
	n := 0
	for n+1 < len(segs) && segs[n+1].baseOffset <= offset {
		n++
	}
	if n == 0 {
		return nil
	}
	return l.dropOldestLocked(n, l.clock())
}

// setLogStartOffsetLocked persists and then publishes a new log start
// offset.
func (l *Log) setLogStartOffsetLocked(offset int64) error {
	path := filepath.Join(l.dir, logStartCheckpointName)
	if err := fsutil.WriteFileAtomic(path, formatCheckpoint([][]int64{{offset}})); err != nil {
		return l.failLocked(err)
	}
	l.logStartOffset.Store(offset)
	return nil
}
