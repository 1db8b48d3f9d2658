package storage

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// File names of a segment: <20-digit zero-padded baseOffset>.<ext>, as
// Kafka names them, so tools that list a partition directory read it alike.
const (
	logExt       = ".log"
	indexExt     = ".index"
	timeIndexExt = ".timeindex"
	tmpExt       = ".tmp"
)

func segmentName(dir string, base int64, ext string) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", base, ext))
}

// parseSegmentName returns the base offset of a segment file name with the
// given extension; ok is false for any other name.
func parseSegmentName(name, ext string) (int64, bool) {
	stem, found := strings.CutSuffix(name, ext)
	if !found || len(stem) != 20 {
		return 0, false
	}
	base, err := strconv.ParseInt(stem, 10, 64)
	if err != nil || base < 0 {
		return 0, false
	}
	return base, true
}

// segment is one <base>.log file and its two indexes.
//
// Ownership: a segment is created and deleted by the log's writer (holding
// Log.writeMu) and shared with readers through the Log.segments snapshot.
// Only the last segment of a snapshot (the active one) grows.
type segment struct {
	baseOffset int64  // immutable
	dir        string // immutable

	// size is the number of bytes of whole batches readers may use. -1
	// until known: closed segments are sized when their file is first
	// opened. The writer stores it after the bytes are written and after
	// Log.logEndOffset (see Log for why that order).
	size atomic.Int64

	fileMu     sync.Mutex              // serialises opening and closing file
	file       atomic.Pointer[os.File] // nil until first use; never replaced once set
	fileClosed bool                    // guarded by fileMu; set by close, forbids reopening

	// deleted is set before the files are removed, so a reader whose I/O
	// fails can tell "retention got there first" from a disk error.
	deleted atomic.Bool

	indexMu     sync.Mutex  // serialises the lazy load of index and timeIndex (I/O)
	indexLoaded atomic.Bool // index and timeIndex hold the segment's entries
	index       entryTable  // offset index, entrySize 8
	timeIndex   entryTable  // time index, entrySize 12

	// persisted tracks what of the tables is in the index files; guarded
	// by Log.flushMu (only flushes, rolls, truncation and Close write index
	// files).
	persisted struct {
		indexFile, timeFile *os.File
		indexN, timeN       int
	}

	verify verifyState
}

func newSegment(dir string, base int64, size int64) *segment {
	s := &segment{baseOffset: base, dir: dir}
	s.size.Store(size)
	s.index.size = offsetEntrySize
	s.timeIndex.size = timeEntrySize
	s.verify.trustedFrom.Store(math.MaxInt64)
	return s
}

func (s *segment) path(ext string) string { return segmentName(s.dir, s.baseOffset, ext) }

// openFile returns the segment's file, opening it on first use. Opening is
// lazy so that a broker with thousands of idle partitions holds no
// descriptors for them.
func (s *segment) openFile() (*os.File, error) {
	if f := s.file.Load(); f != nil {
		return f, nil
	}
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	if f := s.file.Load(); f != nil {
		return f, nil
	}
	if s.fileClosed {
		return nil, ErrClosed
	}
	f, err := os.OpenFile(s.path(logExt), os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	if s.size.Load() < 0 {
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		s.size.Store(fi.Size())
	}
	s.file.Store(f)
	return f, nil
}

// close closes the segment's files; later openFile calls fail. Readers
// holding the *os.File get os.ErrClosed from their next ReadAt, never bytes
// of another file: Go's poll.FD keeps the descriptor number reserved until
// every in-flight operation on it has returned. Caller holds Log.flushMu.
func (s *segment) close() error {
	s.fileMu.Lock()
	s.fileClosed = true
	f := s.file.Load()
	s.fileMu.Unlock()
	var err error
	if f != nil {
		err = f.Close()
	}
	for _, p := range []**os.File{&s.persisted.indexFile, &s.persisted.timeFile} {
		if *p != nil {
			if e := (*p).Close(); err == nil {
				err = e
			}
			*p = nil
		}
	}
	return err
}

// remove closes the segment and deletes its files. Caller holds
// Log.flushMu. The .log goes first: an index without its .log is swept at
// the next Open, a .log without its index is reindexed.
func (s *segment) remove() error {
	s.deleted.Store(true)
	err := s.close()
	for _, ext := range []string{logExt, indexExt, timeIndexExt} {
		if e := os.Remove(s.path(ext)); e != nil && !errors.Is(e, fs.ErrNotExist) && err == nil {
			err = e
		}
	}
	return err
}

// loadIndexes fills index and timeIndex from the index files on first use,
// rebuilding them from the .log when they are missing or do not check out.
// Indexes of closed segments are never read at Open: a partition that is
// never fetched from costs no index memory.
func (s *segment) loadIndexes(indexInterval int64) error {
	if s.indexLoaded.Load() {
		return nil
	}
	s.indexMu.Lock()
	defer s.indexMu.Unlock()
	if s.indexLoaded.Load() {
		return nil
	}
	f, err := s.openFile()
	if err != nil {
		return err
	}
	size := s.size.Load()
	idx, errIdx := os.ReadFile(s.path(indexExt))
	tidx, errTime := os.ReadFile(s.path(timeIndexExt))
	ok := errIdx == nil && errTime == nil
	if ok {
		n, err := checkIndex(idx, size)
		ok = err == nil
		idx = idx[:n*offsetEntrySize]
		m, err := checkTimeIndex(tidx, math.MaxUint32+1)
		ok = ok && err == nil
		tidx = tidx[:m*timeEntrySize]
	}
	if !ok {
		return s.rebuildIndexesLocked(f, size, indexInterval)
	}
	s.index.set(idx)
	s.timeIndex.set(tidx)
	// Flushes read persisted only once indexLoaded is set, so these
	// stores need no Log.flushMu.
	s.persisted.indexN, s.persisted.timeN = s.index.count(), s.timeIndex.count()
	s.indexLoaded.Store(true)
	return nil
}

// rebuildIndexesLocked rebuilds both tables by walking the batch headers
// of the .log (no CRC check: that is the reader's verification, see
// verifyRange) and rewrites the index files. It stops at the first header
// that does not parse; reads beyond it report ErrCorruptSegment.
func (s *segment) rebuildIndexesLocked(f *os.File, size int64, indexInterval int64) error {
	c := newCursor(f, size)
	defer c.release()
	var ix indexer
	ix.reset(s, 0, -1, 0)
	for pos := int64(0); pos < size; {
		h, err := c.header(pos)
		if err != nil {
			if errors.Is(err, ErrCorruptSegment) {
				break
			}
			return err
		}
		ix.add(&h, pos, indexInterval)
		pos += int64(h.Size())
	}
	ix.finish()
	if err := writeWholeFile(s.path(indexExt), s.index.view()); err != nil {
		return err
	}
	if err := writeWholeFile(s.path(timeIndexExt), s.timeIndex.view()); err != nil {
		return err
	}
	s.indexLoaded.Store(true)
	return nil
}

// writeWholeFile replaces path's content (no fsync: index files are hints
// that recovery checks, never the only copy of anything).
func writeWholeFile(path string, b []byte) error {
	return os.WriteFile(path, b, 0o644)
}

// readFullAt reads len(b) bytes at off, turning a short read into an error.
func readFullAt(f *os.File, b []byte, off int64) error {
	n, err := f.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}
