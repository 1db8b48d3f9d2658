package storage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// snapshotDir reads every file of dir: with the log still open and nothing
// closed, that is what a kill -9 leaves behind (the page cache survives).
func snapshotDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	names, err := readDirNames(dir)
	if err != nil {
		t.Fatal(err)
	}
	snap := map[string][]byte{}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		snap[n] = b
	}
	return snap
}

func restoreDir(t *testing.T, dir string, snap map[string][]byte) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for n, b := range snap {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRecoveryEveryByte proves recovery on every byte boundary of the last
// two batches: the log is cut there, or one byte there is flipped, and the
// reopened log must be exactly the whole valid batches before that byte,
// with appends continuing after them.
func TestRecoveryEveryByte(t *testing.T) {
	const recs = 1
	cfg := Config{IndexIntervalBytes: 200, FlushMessages: 1 << 40}
	src := t.TempDir()
	l := mustOpen(t, src, cfg)
	var batches [][]byte
	for i := 0; i < 12; i++ {
		if i == 10 {
			// The first ten are durable and indexed; the last two are
			// only in the page cache, as when the process dies.
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		b := makeBatch(recs, 8, int64(1000+i), byte(i))
		mustAppend(t, l, b, leader(7))
		batches = append(batches, b)
	}
	snap := snapshotDir(t, src)
	l.Close()
	logName := filepath.Base(segmentName("", 0, logExt))
	data := snap[logName]
	if _, ok := snap[cleanShutdownName]; ok {
		t.Fatal("marker present while open")
	}
	tailStart := len(data) - len(batches[10]) - len(batches[11])
	if idx := snap[filepath.Base(segmentName("", 0, indexExt))]; len(idx) < 2*offsetEntrySize {
		t.Fatalf("want an indexed durable prefix, index has %d bytes", len(idx))
	}

	// prefix returns how many whole batches end at or before pos.
	prefix := func(pos int) int {
		k, end := 0, 0
		for k < len(batches) && end+len(batches[k]) <= pos {
			end += len(batches[k])
			k++
		}
		return k
	}
	dir := filepath.Join(t.TempDir(), "p")
	check := func(t *testing.T, mutated []byte, k int) {
		t.Helper()
		m := make(map[string][]byte, len(snap))
		for n, b := range snap {
			m[n] = b
		}
		m[logName] = mutated
		restoreDir(t, dir, m)
		l, err := Open(dir, cfg)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer l.Close()
		if got, want := l.LogEndOffset(), int64(k*recs); got != want {
			t.Fatalf("LogEndOffset %d, want %d", got, want)
		}
		var want []byte
		for _, b := range batches[:k] {
			want = append(want, b...)
		}
		if got := readAll(t, l, 0); !bytes.Equal(got, want) {
			t.Fatalf("recovered log is not the prefix of %d batches", k)
		}
		next := makeBatch(1, 5, 99, 0xee)
		if res := mustAppend(t, l, next, leader(7)); res.FirstOffset != int64(k*recs) {
			t.Fatalf("append after recovery at %d", res.FirstOffset)
		}
		if got := readAll(t, l, 0); !bytes.Equal(got, append(want, next...)) {
			t.Fatal("append after recovery reads back wrong")
		}
	}
	for pos := tailStart; pos <= len(data); pos++ {
		check(t, data[:pos], prefix(pos))
	}
	for pos := tailStart; pos < len(data); pos++ {
		flipped := bytes.Clone(data)
		flipped[pos] ^= 0xff
		check(t, flipped, prefix(pos))
	}
}

// TestRecoveryBadIndex: index files that do not check out are rebuilt.
func TestRecoveryBadIndex(t *testing.T) {
	cfg := Config{IndexIntervalBytes: 100, FlushMessages: 1 << 40}
	dir := t.TempDir()
	l := mustOpen(t, dir, cfg)
	var want []byte
	for _, b := range appendN(t, l, 30, 2, 40, 0) {
		want = append(want, b...)
	}
	l.Close()
	idx := segmentName(dir, 0, indexExt)
	good, _ := os.ReadFile(idx)
	if len(good) < 3*offsetEntrySize {
		t.Fatalf("index too small: %d", len(good))
	}
	for name, bad := range map[string][]byte{
		"beyond file":   append(bytes.Clone(good), 0, 0, 0, 200, 0, 1, 0, 0),
		"non-monotonic": append(bytes.Clone(good), good[:offsetEntrySize]...),
		"torn entry":    append(bytes.Clone(good), 1, 2, 3),
		"garbage":       bytes.Repeat([]byte{0xff}, 40),
		"missing":       nil,
	} {
		t.Run(name, func(t *testing.T) {
			for _, clean := range []bool{false, true} {
				if bad == nil {
					os.Remove(idx)
				} else {
					os.WriteFile(idx, bad, 0o644)
				}
				if !clean {
					os.Remove(filepath.Join(dir, cleanShutdownName))
				}
				l := mustOpen(t, dir, cfg)
				if got := readAll(t, l, 0); !bytes.Equal(got, want) {
					t.Fatalf("clean=%v: read back differs", clean)
				}
				for off := int64(0); off < 60; off += 7 {
					if sl, err := l.Read(off, 1, 1<<40); err != nil || sl.Size == 0 {
						t.Fatalf("Read(%d): %v", off, err)
					}
				}
				l.Close()
			}
		})
	}
}

// TestCorruptClosedSegment: a damaged batch in a closed segment is never
// served; the batches before it are.
func TestCorruptClosedSegment(t *testing.T) {
	cfg := Config{SegmentBytes: 4096, IndexIntervalBytes: 512, FlushMessages: 1 << 40}
	dir := t.TempDir()
	l := mustOpen(t, dir, cfg)
	batches := appendN(t, l, 40, 2, 100, 0)
	if len(l.segs()) < 3 {
		t.Fatalf("want several segments, have %d", len(l.segs()))
	}
	l.Close()
	// Damage the record bytes of the 5th batch (offsets 8, 9) of the first segment.
	path := segmentName(dir, 0, logExt)
	data, _ := os.ReadFile(path)
	pos := 4*len(batches[0]) + 100
	data[pos] ^= 0x01
	os.WriteFile(path, data, 0o644)

	for _, clean := range []bool{true, false} {
		if !clean {
			os.Remove(filepath.Join(dir, cleanShutdownName))
		}
		l = mustOpen(t, dir, cfg)
		sl, err := l.Read(0, 1<<20, 1<<40)
		if err != nil {
			t.Fatalf("clean=%v: Read(0): %v", clean, err)
		}
		if want := bytes.Join(batches[:4], nil); !bytes.Equal(sliceBytes(t, sl), want) {
			t.Fatalf("clean=%v: Read(0) returned %d bytes, want the 4 good batches (%d)", clean, sl.Size, len(want))
		}
		if _, err := l.Read(9, 1<<20, 1<<40); !errors.Is(err, ErrCorruptSegment) {
			t.Fatalf("clean=%v: Read(9): %v, want ErrCorruptSegment", clean, err)
		}
		if _, err := l.Read(10, 1<<20, 1<<40); err != nil {
			t.Fatalf("clean=%v: Read(10): %v", clean, err)
		}
		l.Close()
	}
}
