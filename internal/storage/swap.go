package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gregor-log/gregor/internal/fsutil"
	"github.com/gregor-log/gregor/internal/record"
)

// Swapping cleaned segments in, so that a crash at any instant leaves a
// valid log equal to the one before the swap or the one after it.
//
// A group of old segments [B, E) (B the base of the first, E the base of
// the segment after the last) becomes one new segment with base B:
//
//  1. write B.log.cleaned, B.index.cleaned, B.timeindex.cleaned; fsync
//     them. A crash here: Open deletes *.cleaned (before state).
//  2. rename B.log.cleaned to B.E.swap (both 20 digits) and fsync the
//     directory: the commit point. From here Open completes the swap.
//  3. under writeMu: check the group is still what was cleaned (else
//     undo step 2: abandon), unlink the old segments' files (all three
//     kinds, B's included), rename B.E.swap to B.log, fsync the
//     directory, rename the .cleaned indexes to their final names (no
//     fsync: a lost index is rebuilt from the .log, and a stale one
//     cannot survive, B.index having been unlinked durably before), then
//     publish the new segment list and retire the old segments.
//
// Completing a swap at Open (completeSwaps): delete every segment file
// whose base is in [B, E), rename B.E.swap to B.log, fsync the directory.
// Its indexes are rebuilt on first use.

const (
	cleanedExt = ".cleaned"
	swapExt    = ".swap"
)

func swapName(dir string, base, end int64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d.%020d%s", base, end, swapExt))
}

// parseSwapName returns the range of a swap file name.
func parseSwapName(name string) (base, end int64, ok bool) {
	stem, found := strings.CutSuffix(name, swapExt)
	if !found || len(stem) != 41 || stem[20] != '.' {
		return 0, 0, false
	}
	b, err1 := strconv.ParseInt(stem[:20], 10, 64)
	e, err2 := strconv.ParseInt(stem[21:], 10, 64)
	if err1 != nil || err2 != nil || b < 0 || e <= b {
		return 0, 0, false
	}
	return b, e, true
}

// cleanGroup rewrites the segments of group (followed by next in the log)
// into one segment and swaps it in.
func (p *cleanPass) cleanGroup(ctx context.Context, group []*segment, next *segment, firstDirty int64, st *CleanStats) error {
	l := p.l
	cfg := l.config()
	interval := int64(cfg.IndexIntervalBytes)
	base := group[0].baseOffset
	ns := newSegment(l.dir, base, 0)
	ns.index.set(nil)
	ns.timeIndex.set(nil)
	logPath := ns.path(logExt) + cleanedExt
	f, err := os.OpenFile(logPath, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			f.Close()
			for _, ext := range []string{logExt, indexExt, timeIndexExt} {
				os.Remove(ns.path(ext) + cleanedExt)
			}
		}
	}()

	var ix indexer
	ix.reset(ns, 0, -1, -1)
	var pos int64
	mtime := time.Time{}
	flush := func(force bool) error {
		if len(p.out) == 0 || (!force && len(p.out) < cleanerIOChunk) {
			return nil
		}
		if _, err := f.Write(p.out); err != nil {
			return err
		}
		st.BytesWritten += int64(len(p.out))
		if err := p.opts.Throttle.Wait(ctx, len(p.out)); err != nil {
			return err
		}
		p.out = p.out[:0]
		return nil
	}
	p.out = p.out[:0]
	for k, s := range group {
		segEnd := next.baseOffset
		if k+1 < len(group) {
			segEnd = group[k+1].baseOffset
		}
		clean := segEnd <= firstDirty
		fi, err := os.Stat(s.path(logExt))
		if err != nil {
			return err
		}
		expired := clean && !fi.ModTime().Add(cfg.DeleteRetentionMs).After(p.now)
		if clean {
			mtime = later(mtime, fi.ModTime())
		} else {
			mtime = later(mtime, p.now)
		}
		err = p.eachBatch(ctx, s, func(h record.Header, batch []byte) error {
			st.BytesRead += int64(len(batch))
			st.RecordsRead += int64(h.RecordCount)
			before := len(p.out)
			kept, err := p.retain(s, h, batch, expired)
			if err != nil {
				return err
			}
			if len(p.out) > before {
				out, _ := record.ReadHeader(p.out[before:])
				ix.add(&out, pos, interval)
				pos += int64(len(p.out) - before)
				st.RecordsKept += int64(kept)
			}
			return flush(false)
		})
		if err != nil {
			return err
		}
	}
	if err := flush(true); err != nil {
		return err
	}
	ix.finish()
	if err := f.Sync(); err != nil {
		return err
	}
	if err := os.Chtimes(logPath, mtime, mtime); err != nil {
		return err
	}
	for _, t := range []struct {
		ext string
		b   []byte
	}{{indexExt, ns.index.view()}, {timeIndexExt, ns.timeIndex.view()}} {
		if err := writeSynced(ns.path(t.ext)+cleanedExt, t.b); err != nil {
			return err
		}
	}
	ns.size.Store(pos)
	ns.verify.trustedFrom.Store(0) // written and checked by this process
	ns.file.Store(f)
	ns.indexLoaded.Store(true)
	if err := p.step("cleaned"); err != nil {
		committed = true // a crash leaves the files to Open's sweep
		return err
	}
	st.SegmentsIn += len(group)
	if err := p.swap(group, next, ns, logPath); err != nil {
		if errors.Is(err, errSwapAbandoned) {
			return nil // the next pass cleans what is there then
		}
		// The swap file may be there: Open completes it. ns was not
		// published, so its descriptor is still ours.
		committed = true
		f.Close()
		return err
	}
	committed = true
	st.SegmentsOut++
	return nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// writeSynced writes a new file and fsyncs it.
func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if e := f.Close(); err == nil {
		err = e
	}
	return err
}

// swap commits the cleaned segment ns in place of group (steps 2 and 3).
func (p *cleanPass) swap(group []*segment, next, ns *segment, cleanedPath string) error {
	l := p.l
	base, end := group[0].baseOffset, next.baseOffset
	swapPath := swapName(l.dir, base, end)
	if err := os.Rename(cleanedPath, swapPath); err != nil {
		return err
	}
	if err := fsutil.SyncDir(l.dir); err != nil {
		return err
	}
	if err := p.step("swap"); err != nil {
		return err
	}

	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	segs := l.segs()
	i := slices.Index(segs, group[0])
	if l.closed.Load() || i < 0 || i+len(group) >= len(segs) ||
		!slices.Equal(segs[i:i+len(group)], group) || segs[i+len(group)] != next {
		// Retention, truncation or Close got there first: undo.
		if l.closed.Load() {
			return ErrClosed
		}
		if err := os.Rename(swapPath, cleanedPath); err != nil {
			return l.failLocked(err)
		}
		return errSwapAbandoned
	}
	if err := l.checkWritableLocked(); err != nil {
		return err
	}
	if err := l.markDirtyLocked(); err != nil {
		return l.failLocked(err)
	}
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	for k, s := range group {
		if err := s.unlink(); err != nil {
			return l.failLocked(err)
		}
		if err := p.step("unlink-" + strconv.Itoa(k)); err != nil {
			return err
		}
	}
	if err := os.Rename(swapPath, ns.path(logExt)); err != nil {
		return l.failLocked(err)
	}
	if err := fsutil.SyncDir(l.dir); err != nil {
		return l.failLocked(err)
	}
	if err := p.step("renamed"); err != nil {
		return err
	}
	for _, ext := range []string{indexExt, timeIndexExt} {
		if err := os.Rename(ns.path(ext)+cleanedExt, ns.path(ext)); err != nil {
			return l.failLocked(err)
		}
	}
	if err := p.step("indexed"); err != nil {
		return err
	}
	n := slices.Concat(segs[:i], []*segment{ns}, segs[i+len(group):])
	l.segments.Store(&n)
	for _, s := range group {
		l.retireLocked(s, p.now)
	}
	return nil
}

// completeSwaps finishes the swaps a crash interrupted and removes the
// leftovers of unfinished cleanings (Open, before the segments are
// listed). It returns the directory's names afterwards.
func completeSwaps(dir string, names []string) ([]string, error) {
	changed := false
	for _, name := range names {
		base, end, ok := parseSwapName(name)
		if !ok {
			continue
		}
		for _, other := range names {
			for _, ext := range []string{logExt, indexExt, timeIndexExt} {
				if b, ok := parseSegmentName(other, ext); ok && b >= base && b < end {
					if err := os.Remove(filepath.Join(dir, other)); err != nil && !errors.Is(err, fs.ErrNotExist) {
						return nil, err
					}
				}
			}
		}
		if err := os.Rename(filepath.Join(dir, name), segmentName(dir, base, logExt)); err != nil {
			return nil, err
		}
		changed = true
	}
	for _, name := range names {
		if strings.HasSuffix(name, cleanedExt) {
			os.Remove(filepath.Join(dir, name))
			changed = true
		}
	}
	if !changed {
		return names, nil
	}
	if err := fsutil.SyncDir(dir); err != nil {
		return nil, err
	}
	return readDirNames(dir)
}
