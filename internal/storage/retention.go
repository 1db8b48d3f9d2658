package storage

import (
	"errors"
	"io/fs"
	"os"
	"slices"
	"time"
)

// Deletion retention (cleanup.policy=delete), as Kafka does it: whole
// segments go, oldest first, while the oldest one is expired by time (its
// largest record timestamp is more than retention.ms old) or by size (the
// partition stays at or above retention.bytes without it). A segment goes
// only if every offset in it is below the high watermark. The active
// segment counts too: when every segment is expired the log rolls first,
// so that an idle partition does not keep its last, expired segment
// forever. The log start offset moves to the first kept segment's base
// and is persisted before any file goes (as DeleteRecordsBefore does).
//
// Readers are never served garbage: a deleted segment is unlinked at once
// but its .log descriptor stays open for file.delete.delay.ms (retired).
// A reader that loaded the segment before keeps reading the old bytes,
// which are still a valid part of the log it asked about; one that comes
// later does not find the segment in the list, or finds its file gone, and
// Read reports ErrOffsetOutOfRange (or retries, see Read). Unlinking at
// once instead of renaming to .deleted as Kafka does is safe on POSIX
// systems: an unlinked file's bytes live as long as a descriptor does, and
// a crash needs no cleanup (the inode is freed at the next mount).

// retiredSegment is a deleted segment whose descriptor closes at due.
type retiredSegment struct {
	seg *segment
	due time.Time
}

// ApplyRetention deletes the segments retention.ms and retention.bytes
// expire, never one holding an offset at or above upTo (the high
// watermark), and closes retired descriptors that are due. It returns the
// number of segments deleted. A log without CleanupDelete only closes due
// descriptors. One broker-wide goroutine calls it for every log.
func (l *Log) ApplyRetention(now time.Time, upTo int64) (int, error) {
	if l.closed.Load() {
		return 0, nil
	}
	cfg := l.config()
	segs := l.segs()
	n := 0
	if cfg.CleanupDelete && (cfg.RetentionMs >= 0 || cfg.RetentionBytes >= 0) {
		var err error
		if n, err = l.expiredSegments(segs, cfg, now, min(upTo, l.logEndOffset.Load())); err != nil {
			return 0, err
		}
	}
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	l.closeRetiredLocked(now, false)
	if n == 0 {
		return 0, nil
	}
	if err := l.checkWritableLocked(); err != nil {
		if errors.Is(err, ErrClosed) {
			return 0, nil
		}
		return 0, err
	}
	// The decision was made on a snapshot without the lock (it reads
	// index files): only act if the oldest segments are still the same.
	cur := l.segs()
	if len(cur) < n || !slices.Equal(cur[:n], segs[:n]) || (n == len(segs) && len(cur) != len(segs)) {
		return 0, nil
	}
	if err := l.markDirtyLocked(); err != nil {
		return 0, l.failLocked(err)
	}
	if n == len(cur) {
		// Everything is expired, the active segment too: roll so that it
		// can go (Kafka does the same).
		if _, err := l.activeLocked(); err != nil {
			return 0, err
		}
		if err := l.rollLocked(l.logEndOffset.Load()); err != nil {
			return 0, l.failLocked(err)
		}
		cur = l.segs()
	}
	newStart := cur[n].baseOffset
	if newStart > l.logStartOffset.Load() {
		if err := l.setLogStartOffsetLocked(newStart); err != nil {
			return 0, err
		}
		if err := l.epochs.truncateFromStart(newStart); err != nil {
			return 0, l.failLocked(err)
		}
	}
	if err := l.dropOldestLocked(n, now); err != nil {
		return 0, err
	}
	return n, nil
}

// expiredSegments returns how many of the oldest segments retention
// deletes.
func (l *Log) expiredSegments(segs []*segment, cfg *Config, now time.Time, upTo int64) (int, error) {
	// Sizes are needed for retention.bytes, and for the last segment
	// (an empty active segment never goes); only then stat the files.
	sizes := make([]int64, len(segs))
	var total int64
	for i, s := range segs {
		if cfg.RetentionBytes < 0 && i < len(segs)-1 {
			continue
		}
		sz, err := s.sizeOnDisk()
		if err != nil {
			return 0, err
		}
		sizes[i] = sz
		total += sz
	}
	leo := l.logEndOffset.Load()
	n := 0
	for ; n < len(segs); n++ {
		s := segs[n]
		last := n == len(segs)-1
		upper := leo
		if !last {
			upper = segs[n+1].baseOffset
		}
		if upper > upTo || (last && sizes[n] == 0) {
			break
		}
		bySize := cfg.RetentionBytes >= 0 && total-sizes[n] >= cfg.RetentionBytes
		byTime := false
		if !bySize && cfg.RetentionMs >= 0 {
			ts, err := l.segmentTimestamp(s)
			if err != nil {
				return 0, err
			}
			byTime = now.UnixMilli()-ts > cfg.RetentionMs.Milliseconds()
		}
		if !bySize && !byTime {
			break
		}
		total -= sizes[n]
	}
	return n, nil
}

// segmentTimestamp is the largest record timestamp of s, or its file's
// modification time when it has none (Kafka's fallback).
func (l *Log) segmentTimestamp(s *segment) (int64, error) {
	if err := s.loadIndexes(int64(l.config().IndexIntervalBytes)); err != nil {
		return 0, err
	}
	ts, _, _, err := s.maxTimestamp()
	if err != nil {
		return 0, err
	}
	if ts >= 0 {
		return ts, nil
	}
	fi, err := os.Stat(s.path(logExt))
	if err != nil {
		return 0, err
	}
	return fi.ModTime().UnixMilli(), nil
}

// sizeOnDisk is the segment's size without opening it.
func (s *segment) sizeOnDisk() (int64, error) {
	if sz := s.size.Load(); sz >= 0 {
		return sz, nil
	}
	fi, err := os.Stat(s.path(logExt))
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// dropOldestLocked removes the n oldest segments (never the last one)
// from the published list and retires them.
func (l *Log) dropOldestLocked(n int, now time.Time) error {
	segs := l.segs()
	if n >= len(segs) {
		panic("storage: dropping the active segment")
	}
	kept := slices.Clone(segs[n:])
	l.segments.Store(&kept)
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	for _, s := range segs[:n] {
		if err := s.unlink(); err != nil {
			return l.failLocked(err)
		}
		l.retireLocked(s, now)
	}
	return nil
}

// retireLocked keeps s's descriptor open until file.delete.delay.ms from
// now. Caller holds writeMu.
func (l *Log) retireLocked(s *segment, now time.Time) {
	l.w.retired = append(l.w.retired, retiredSegment{seg: s, due: now.Add(l.config().FileDeleteDelayMs)})
}

// closeRetiredLocked closes the retired descriptors that are due (all of
// them if all is set). Caller holds writeMu.
func (l *Log) closeRetiredLocked(now time.Time, all bool) {
	kept := l.w.retired[:0]
	for _, r := range l.w.retired {
		if all || !now.Before(r.due) {
			r.seg.close()
			continue
		}
		kept = append(kept, r)
	}
	clear(l.w.retired[len(kept):])
	l.w.retired = kept
}

// unlink marks s deleted and removes its files, closing the index
// descriptors (only writers use them) but not the .log one (readers may).
// The .log goes first: an index without its .log is swept at the next
// Open. Caller holds Log.flushMu.
func (s *segment) unlink() error {
	s.deleted.Store(true)
	var err error
	for _, p := range []**os.File{&s.persisted.indexFile, &s.persisted.timeFile} {
		if *p != nil {
			if e := (*p).Close(); err == nil {
				err = e
			}
			*p = nil
		}
	}
	for _, ext := range []string{logExt, indexExt, timeIndexExt} {
		if e := os.Remove(s.path(ext)); e != nil && !errors.Is(e, fs.ErrNotExist) && err == nil {
			err = e
		}
	}
	return err
}
