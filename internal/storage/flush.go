package storage

import (
	"math"
	"os"
	"sort"
	"time"
)

// Flush policy and group commit.
//
// With FlushMessages=1 (Gregor's default) Append returns only once its
// batches are fsynced. Appenders do not fsync under writeMu: they release
// it and call flushTo, which takes flushMu. The first one in fsyncs
// everything written so far and advances flushedOffset; appenders that
// queued behind it find their offsets covered and return without an fsync
// of their own. So N concurrent producers share one fsync, and writes go on
// while an fsync runs. No goroutine per log.
//
// With FlushMessages>1 data stays in the page cache until that many records
// are unflushed (the appender that crosses the threshold flushes) or until
// FlushMs has passed: FlushIfDue is the hook for that, called for every log
// by one broker-wide ticker (Manager.Run does it).

// flushTo makes every offset below target durable.
func (l *Log) flushTo(target int64) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	if p := l.flushErr.Load(); p != nil {
		return *p
	}
	if l.flushedOffset.Load() >= target {
		return nil
	}
	if l.closed.Load() {
		// Close fsyncs what it can (flushedOffset then covers it); what
		// it did not cover must not be acknowledged as durable.
		return ErrClosed
	}
	return l.flushLocked()
}

// Flush fsyncs everything appended so far.
func (l *Log) Flush() error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	if l.closed.Load() {
		return ErrClosed
	}
	return l.flushLocked()
}

// FlushIfDue flushes if FlushMs is set, records are unflushed and FlushMs
// has passed since the last flush. It is cheap when there is nothing to do
// (three atomic loads), so one goroutine may call it for every log of the
// broker on each tick; Manager.Run does exactly that.
func (l *Log) FlushIfDue(now time.Time) error {
	cfg := l.config()
	if cfg.FlushMs <= 0 || l.closed.Load() || l.unflushedMessages() == 0 {
		return nil
	}
	if !cfg.flushDue(now, time.Unix(0, l.lastFlush.Load())) {
		return nil
	}
	err := l.Flush()
	if err == ErrClosed {
		return nil
	}
	return err
}

func (l *Log) unflushedMessages() int64 {
	return l.appendedMessages.Load() - l.flushedMessages.Load()
}

// flushLocked fsyncs the active segment and then writes the index entries
// of what that fsync covered. Caller holds flushMu. A roll (which fsyncs
// the old segment under flushMu) cannot run meanwhile, so every offset
// below the loaded logEndOffset is in the active segment or in an older,
// already durable one.
func (l *Log) flushLocked() error {
	messages := l.appendedMessages.Load()
	segs := l.segs()
	s := segs[len(segs)-1]
	size := s.size.Load()
	leo := l.logEndOffset.Load()
	if f := s.file.Load(); f != nil {
		if err := f.Sync(); err != nil {
			return l.flushFailed(err)
		}
		if s.indexLoaded.Load() {
			// Index entries go to disk only once the batches they point
			// at are durable; recovery then scans everything after the
			// last entry on disk, which includes every unflushed byte.
			if err := s.persistIndexes(size, leo); err != nil {
				return l.flushFailed(err)
			}
		}
	}
	if leo > l.flushedOffset.Load() {
		l.flushedOffset.Store(leo)
	}
	l.flushedMessages.Store(messages)
	l.lastFlush.Store(l.clock().UnixNano())
	return nil
}

// flushFailed is the sticky failure of a flush, which may run without
// writeMu: it is recorded by the next writer (see Append).
func (l *Log) flushFailed(err error) error {
	l.flushErr.CompareAndSwap(nil, &err)
	return err
}

// persistIndexes writes the index entries not yet in the index files: the
// offset entries below position posLimit and the time entries below offset
// offsetLimit. Time entries go first: recovery keeps the time entries up to
// the last offset entry, so the time index must never lag behind. Caller
// holds Log.flushMu.
func (s *segment) persistIndexes(posLimit, offsetLimit int64) error {
	if !s.indexLoaded.Load() {
		return nil
	}
	tv := s.timeIndex.view()
	m := sort.Search(len(tv)/timeEntrySize, func(i int) bool {
		_, rel := timeEntry(tv, i)
		return s.baseOffset+int64(rel) >= offsetLimit
	})
	if err := s.persistTable(&s.persisted.timeFile, &s.persisted.timeN, timeIndexExt, tv, m, timeEntrySize); err != nil {
		return err
	}
	iv := s.index.view()
	n := entriesBelowPos(iv, posLimit)
	return s.persistTable(&s.persisted.indexFile, &s.persisted.indexN, indexExt, iv, n, offsetEntrySize)
}

func (s *segment) persistTable(fp **os.File, written *int, ext string, entries []byte, upTo, entrySize int) error {
	if upTo <= *written {
		return nil
	}
	if *fp == nil {
		f, err := os.OpenFile(s.path(ext), os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		*fp = f
	}
	if _, err := (*fp).WriteAt(entries[*written*entrySize:upTo*entrySize], int64(*written*entrySize)); err != nil {
		return err
	}
	*written = upTo
	return nil
}

// rewriteIndexes replaces both index files with the tables (truncation,
// recovery). Caller holds Log.flushMu.
func (s *segment) rewriteIndexes() error {
	for _, t := range []struct {
		fp      **os.File
		written *int
		ext     string
		table   *entryTable
	}{
		{&s.persisted.timeFile, &s.persisted.timeN, timeIndexExt, &s.timeIndex},
		{&s.persisted.indexFile, &s.persisted.indexN, indexExt, &s.index},
	} {
		if *t.fp == nil {
			f, err := os.OpenFile(s.path(t.ext), os.O_RDWR|os.O_CREATE, 0o644)
			if err != nil {
				return err
			}
			*t.fp = f
		}
		if err := (*t.fp).Truncate(0); err != nil {
			return err
		}
		*t.written = 0
		if err := s.persistTable(t.fp, t.written, t.ext, t.table.view(), t.table.count(), t.table.size); err != nil {
			return err
		}
	}
	return nil
}

// syncAndCloseIndexes fsyncs the index files and closes them (the segment is
// closed for appends). Caller holds Log.flushMu.
func (s *segment) syncAndCloseIndexes() error {
	if err := s.persistIndexes(math.MaxInt64, math.MaxInt64); err != nil {
		return err
	}
	for _, fp := range []**os.File{&s.persisted.indexFile, &s.persisted.timeFile} {
		if *fp == nil {
			continue
		}
		err := (*fp).Sync()
		if e := (*fp).Close(); err == nil {
			err = e
		}
		*fp = nil
		if err != nil {
			return err
		}
	}
	return nil
}

// closeIndexFiles closes the index files without syncing them. Caller
// holds Log.flushMu or owns the segment alone.
func (s *segment) closeIndexFiles() error {
	var err error
	for _, fp := range []**os.File{&s.persisted.indexFile, &s.persisted.timeFile} {
		if *fp != nil {
			if e := (*fp).Close(); err == nil {
				err = e
			}
			*fp = nil
		}
	}
	return err
}
