package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gregor-log/gregor/internal/fsutil"
)

// Log is the commit log of one partition: a directory of segments.
//
// Concurrency. One writer at a time: Append, TruncateTo,
// TruncateFullyAndStartAt, DeleteRecordsBefore, SetConfig and Close hold
// writeMu, also across their file writes. Readers (Read, the offset
// getters, OffsetForTimestamp, MaxTimestamp, EndOffsetForEpoch) never take
// writeMu: they load the published state below, which is replaced or
// advanced atomically, and take at most a per-segment mutex for a lazy
// first load. fsyncs take flushMu, never writeMu, so appenders keep writing
// while an fsync runs (group commit). Lock order: writeMu, then flushMu,
// then a segment's mutexes. Methods named ...Locked need writeMu.
type Log struct {
	dir   string
	clock func() time.Time // time.Now; tests set it before first use

	cfg atomic.Pointer[Config] // normalized; replaced whole by SetConfig

	// Published state.
	//
	// On append the writer publishes in this order: bytes written to the
	// active segment, index entries committed, logEndOffset stored, then
	// the segment's size. A reader that loads a segment's size S and then
	// logEndOffset L therefore knows every batch in [0, S) ends below L,
	// which is how Read bounds a fetch by the high watermark without
	// walking batches. Truncation shrinks in the opposite order (size,
	// then logEndOffset).
	//
	// segments is copy-on-write: ascending base offsets, the last is the
	// active segment. logStartOffset <= logEndOffset, and logStartOffset
	// >= segments[0].baseOffset.
	segments       atomic.Pointer[[]*segment]
	logStartOffset atomic.Int64
	logEndOffset   atomic.Int64
	closed         atomic.Bool
	epochs         epochCache
	// cleanerCheckpoint is the cleaner's firstDirtyOffset: every segment
	// wholly below it was compacted (cleaner.go). Persisted in
	// cleaner-offset-checkpoint; 0 when never cleaned.
	cleanerCheckpoint atomic.Int64

	writeMu sync.Mutex
	w       struct { // guarded by writeMu
		// active indexes the last segment's appends; nil until the first
		// mutation after a clean Open (preparing it reads the segment).
		active *indexer
		// rollStart is when the active segment took its first batch in
		// this process (segment.ms; a restart restarts the clock, so a
		// segment rolls late, never early).
		rollStart time.Time
		// dirty: the clean-shutdown marker has been removed, so files may
		// change. Removal is deferred to the first mutation: opening a
		// thousand partitions does not cost a thousand directory fsyncs.
		dirty bool
		// failure is sticky: after a failed write or fsync the state of
		// the file is unknown (the page cache may have dropped the data),
		// so the log refuses further writes until reopened.
		failure error
		// retired are segments already unlinked (retention, DeleteRecords,
		// a cleaner swap) whose .log descriptor stays open until due, so
		// that readers holding them keep reading the old, valid bytes
		// (Kafka's file.delete.delay.ms). Bounded by the segments deleted
		// within one delay.
		retired []retiredSegment
	}

	flushMu          sync.Mutex   // serialises fsyncs and index file writes
	flushedOffset    atomic.Int64 // every offset below it is on stable storage (Kafka's recovery point)
	appendedMessages atomic.Int64 // records appended since Open
	flushedMessages  atomic.Int64 // appendedMessages covered by the last flush
	lastFlush        atomic.Int64 // Unix nanoseconds of the last flush (flush.ms)
	// flushErr is the first fsync failure; writers turn it into
	// w.failure, flushTo returns it (nothing is durable after it).
	flushErr atomic.Pointer[error]
}

// Open opens (creating if needed) the partition log in dir, recovering it
// if the last shutdown was not clean. It reads no segment when the last
// shutdown was clean, and at most the tail of the active segment otherwise.
func Open(dir string, cfg Config) (*Log, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", dir, err)
	}
	l := &Log{dir: dir, clock: time.Now}
	c := cfg.normalized()
	l.cfg.Store(&c)
	if err := l.epochs.load(dir); err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", dir, err)
	}
	l.loadCleanerCheckpoint()
	if err := l.load(); err != nil {
		for _, s := range l.segs() {
			s.close()
		}
		return nil, fmt.Errorf("storage: open %s: %w", dir, err)
	}
	l.lastFlush.Store(l.clock().UnixNano())
	return l, nil
}

// load builds the segment list and the offsets from the directory.
func (l *Log) load() error {
	names, err := readDirNames(l.dir)
	if err != nil {
		return err
	}
	// Cleaner swaps a crash interrupted are finished first (swap.go).
	if names, err = completeSwaps(l.dir, names); err != nil {
		return err
	}
	var bases []int64
	for _, name := range names {
		if base, ok := parseSegmentName(name, logExt); ok {
			bases = append(bases, base)
		}
	}
	slices.Sort(bases)
	// Sweep what a crash can leave behind: temporary checkpoint files and
	// indexes whose .log was deleted.
	for _, name := range names {
		base, isIndex := parseSegmentName(name, indexExt)
		if !isIndex {
			base, isIndex = parseSegmentName(name, timeIndexExt)
		}
		_, hasLog := slices.BinarySearch(bases, base)
		if strings.HasSuffix(name, tmpExt) || (isIndex && !hasLog) {
			os.Remove(filepath.Join(l.dir, name))
		}
	}

	logStart := int64(0)
	if lines, err := readCheckpoint(filepath.Join(l.dir, logStartCheckpointName), 1); err == nil && len(lines) == 1 {
		logStart = lines[0][0]
	}
	markerPath := filepath.Join(l.dir, cleanShutdownName)
	markerData, markerErr := os.ReadFile(markerPath)
	marker, parseErr := parseCleanShutdown(markerData)
	clean := markerErr == nil && parseErr == nil

	var logEnd int64
	var segs []*segment
	if len(bases) == 0 {
		start := max(logStart, 0)
		s, err := l.createSegment(start)
		if err != nil {
			return err
		}
		segs = []*segment{s}
		logEnd = start
		clean = false
	} else {
		for _, b := range bases {
			segs = append(segs, newSegment(l.dir, b, -1))
		}
		last := segs[len(segs)-1]
		if clean {
			fi, err := os.Stat(last.path(logExt))
			clean = err == nil && marker.activeBase == last.baseOffset &&
				fi.Size() == marker.activeLogSize && marker.logEndOffset >= last.baseOffset
		}
		l.segments.Store(&segs)
		if clean {
			last.size.Store(marker.activeLogSize)
			last.verify.trustedFrom.Store(marker.activeLogSize)
			logEnd = marker.logEndOffset
		} else if logEnd, err = l.recoverActive(last); err != nil {
			return err
		}
	}
	if !clean && markerErr == nil {
		// A marker that does not match the files must go before anything
		// is written, or the next Open would trust it.
		if err := os.Remove(markerPath); err != nil {
			return err
		}
		if err := fsutil.SyncDir(l.dir); err != nil {
			return err
		}
	}
	l.w.dirty = !clean
	logStart = min(max(logStart, segs[0].baseOffset), logEnd)
	// Segments wholly below the log start offset are left over from a
	// DeleteRecordsBefore that a crash interrupted (their removal need
	// not be durable: the checkpoint is). Finish the job.
	for len(segs) > 1 && segs[1].baseOffset <= logStart {
		if err := segs[0].remove(); err != nil {
			return err
		}
		segs = segs[1:]
	}

	l.segments.Store(&segs)
	l.logEndOffset.Store(logEnd)
	l.logStartOffset.Store(logStart)
	if l.cleanerCheckpoint.Load() > logEnd {
		if err := l.setCleanerCheckpoint(logEnd, true); err != nil {
			return err
		}
	}
	l.flushedOffset.Store(logEnd)
	if err := l.epochs.truncateFromEnd(logEnd); err != nil {
		return err
	}
	return l.epochs.truncateFromStart(logStart)
}

func readDirNames(dir string) ([]string, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.Readdirnames(-1)
}

// createSegment creates the files of an empty segment and makes their
// directory entries durable. The index files exist from the start, so a
// missing one later means it was lost, not that it was never written.
func (l *Log) createSegment(base int64) (*segment, error) {
	s := newSegment(l.dir, base, 0)
	s.verify.trustedFrom.Store(0)
	f, err := os.OpenFile(s.path(logExt), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	s.file.Store(f)
	for _, p := range []struct {
		ext string
		f   **os.File
	}{{indexExt, &s.persisted.indexFile}, {timeIndexExt, &s.persisted.timeFile}} {
		if *p.f, err = os.OpenFile(s.path(p.ext), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644); err != nil {
			s.close()
			return nil, err
		}
	}
	if err := fsutil.SyncDir(l.dir); err != nil {
		s.close()
		return nil, err
	}
	// The index files stay closed until their first entry is written
	// (persistTable opens them): a new or idle partition then holds one
	// descriptor, its .log, instead of three, which is what lets ten
	// thousand idle partitions fit a common 20,000-file limit.
	if err := s.closeIndexFiles(); err != nil {
		s.close()
		return nil, err
	}
	s.index.set(nil)
	s.timeIndex.set(nil)
	s.indexLoaded.Store(true)
	return s, nil
}

func (l *Log) segs() []*segment {
	if p := l.segments.Load(); p != nil {
		return *p
	}
	return nil
}

func (l *Log) config() *Config { return l.cfg.Load() }

// Dir is the partition directory.
func (l *Log) Dir() string { return l.dir }

// LogStartOffset is the first offset a reader may ask for.
func (l *Log) LogStartOffset() int64 { return l.logStartOffset.Load() }

// LogEndOffset is the offset the next appended record gets.
func (l *Log) LogEndOffset() int64 { return l.logEndOffset.Load() }

// FlushedOffset is Kafka's recovery point: every offset below it is on
// stable storage. With the default FlushMessages=1 it equals LogEndOffset
// whenever no append is in flight.
func (l *Log) FlushedOffset() int64 { return l.flushedOffset.Load() }

// SetConfig applies changed topic configs. It takes effect from the next
// append; existing segments keep their size and index.
func (l *Log) SetConfig(cfg Config) {
	c := cfg.normalized()
	l.writeMu.Lock()
	l.cfg.Store(&c)
	l.writeMu.Unlock()
}

// markDirtyLocked removes the clean-shutdown marker before the first
// change to the files, durably: a marker that survived a crash would make
// the next Open trust files that changed.
func (l *Log) markDirtyLocked() error {
	if l.w.dirty {
		return nil
	}
	if err := os.Remove(filepath.Join(l.dir, cleanShutdownName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := fsutil.SyncDir(l.dir); err != nil {
		return err
	}
	l.w.dirty = true
	return nil
}

// checkWritableLocked is the guard of every mutation.
func (l *Log) checkWritableLocked() error {
	if l.closed.Load() {
		return ErrClosed
	}
	if p := l.flushErr.Load(); p != nil {
		return l.failLocked(*p)
	}
	return l.w.failure
}

// failLocked records a write failure (see Log.w.failure) and returns it.
func (l *Log) failLocked(err error) error {
	if l.w.failure == nil {
		l.w.failure = fmt.Errorf("storage: %s failed, reopen to recover: %w", l.dir, err)
	}
	return l.w.failure
}

// activeLocked returns the indexer of the active segment, preparing it on
// the first mutation after a clean Open.
func (l *Log) activeLocked() (*indexer, error) {
	if l.w.active != nil {
		return l.w.active, nil
	}
	segs := l.segs()
	s := segs[len(segs)-1]
	cfg := l.config()
	if err := s.loadIndexes(int64(cfg.IndexIntervalBytes)); err != nil {
		return nil, err
	}
	ix, err := tailIndexer(s)
	if err != nil {
		return nil, err
	}
	l.w.active = ix
	l.w.rollStart = l.clock()
	return ix, nil
}

// tailIndexer rebuilds the appender's state for segment s (indexes
// loaded) from its tables and the batches after its last offset entry:
// at most an index interval of headers.
func tailIndexer(s *segment) (*indexer, error) {
	ts, off, lastPos, err := s.maxTimestamp()
	if err != nil {
		return nil, err
	}
	ix := &indexer{}
	ix.reset(s, s.size.Load()-lastPos, ts, off)
	return ix, nil
}

// maxTimestamp returns the segment's largest batch timestamp and the base
// offset of the first batch that has it ((-1, -1) if none), and the
// position of the last offset index entry. Indexes must be loaded. Batches
// before the last offset entry are covered by the time index (see
// timeindex.go), so only the batches after it are read.
func (s *segment) maxTimestamp() (ts, offset, lastEntryPos int64, err error) {
	ts, offset = -1, -1
	if t, rel, ok := lastTimeEntry(s.timeIndex.view()); ok {
		ts, offset = t, s.baseOffset+int64(rel)
	}
	f, err := s.openFile()
	if err != nil {
		return 0, 0, 0, err
	}
	size := s.size.Load()
	lastEntryPos = lookupPosition(s.index.view(), math.MaxInt64)
	if lastEntryPos >= size {
		lastEntryPos = 0
	}
	c := newCursor(f, size)
	defer c.release()
	for pos := lastEntryPos; pos < size; {
		h, err := c.header(pos)
		if err != nil {
			return 0, 0, 0, err
		}
		if h.MaxTimestamp > ts {
			ts, offset = h.MaxTimestamp, h.BaseOffset
		}
		pos += int64(h.Size())
	}
	return ts, offset, lastEntryPos, nil
}

// Close flushes and closes the log's files, and records a clean shutdown
// so that the next Open reads no segment.
func (l *Log) Close() error { return l.close(true) }

// Delete closes the log and removes its directory (DeleteTopics).
func (l *Log) Delete() error {
	err := l.close(false)
	if e := os.RemoveAll(l.dir); err == nil || errors.Is(err, ErrClosed) {
		err = e
	}
	return err
}

func (l *Log) close(markClean bool) error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if l.closed.Swap(true) {
		return nil // closing twice is harmless
	}
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	segs := l.segs()
	last := segs[len(segs)-1]
	var err error
	if l.w.failure == nil && l.w.dirty {
		if l.w.active != nil {
			l.w.active.finish()
		}
		err = l.flushAllLocked(last)
		if err == nil && markClean {
			// No fsync: the data and indexes are durable already; if the
			// marker itself is lost or torn, the next Open recovers.
			m := cleanShutdown{logEndOffset: l.logEndOffset.Load(), activeBase: last.baseOffset, activeLogSize: last.size.Load()}
			err = writeWholeFile(filepath.Join(l.dir, cleanShutdownName), m.encode())
		}
	}
	for _, s := range segs {
		if e := s.close(); err == nil {
			err = e
		}
	}
	l.closeRetiredLocked(time.Time{}, true)
	return err
}

// flushAllLocked makes segment s and both its indexes durable, complete.
// Caller holds flushMu (and writeMu, so nothing is being appended).
func (l *Log) flushAllLocked(s *segment) error {
	if _, err := s.openFile(); err != nil {
		return err
	}
	if s.size.Load() < 0 {
		return nil
	}
	if err := s.file.Load().Sync(); err != nil {
		return err
	}
	if err := s.persistIndexes(math.MaxInt64, math.MaxInt64); err != nil {
		return err
	}
	for _, f := range []*os.File{s.persisted.indexFile, s.persisted.timeFile} {
		if f != nil {
			if err := f.Sync(); err != nil {
				return err
			}
		}
	}
	if leo := l.logEndOffset.Load(); leo > l.flushedOffset.Load() {
		l.flushedOffset.Store(leo)
	}
	l.flushedMessages.Store(l.appendedMessages.Load())
	return nil
}
