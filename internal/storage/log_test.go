package storage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/gregor-log/gregor/internal/record"
)

// appendN appends n leader batches of recs records each and returns the
// bytes as written (offsets assigned).
func appendN(t testing.TB, l *Log, n, recs, valueSize int, epoch int32) [][]byte {
	t.Helper()
	var out [][]byte
	for i := 0; i < n; i++ {
		b := makeBatch(recs, valueSize, int64(1000+10*i), byte(i))
		mustAppend(t, l, b, leader(epoch))
		out = append(out, b)
	}
	return out
}

func TestAppendRead(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, testConfig())
	defer l.Close()
	var want []byte
	for i := 0; i < 50; i++ {
		b := makeBatch(3, 100, int64(1000+i), byte(i))
		res := mustAppend(t, l, b, leader(0))
		if res.FirstOffset != int64(3*i) || res.LastOffset != int64(3*i+2) {
			t.Fatalf("batch %d: offsets %d..%d", i, res.FirstOffset, res.LastOffset)
		}
		h, _ := record.ReadHeader(b)
		if h.BaseOffset != int64(3*i) || h.PartitionLeaderEpoch != 0 {
			t.Fatalf("batch %d not rewritten in place: %+v", i, h)
		}
		want = append(want, b...)
	}
	if got := l.LogEndOffset(); got != 150 {
		t.Fatalf("LogEndOffset %d", got)
	}
	if segs := len(l.segs()); segs < 2 {
		t.Fatalf("expected rolls, have %d segment(s)", segs)
	}
	if got := readAll(t, l, 0); !bytes.Equal(got, want) {
		t.Fatalf("read back %d bytes, want %d", len(got), len(want))
	}
	// Every offset reads from the batch that holds it.
	for off := int64(0); off < 150; off++ {
		sl, err := l.Read(off, 1, 1<<62)
		if err != nil {
			t.Fatal(err)
		}
		h, err := record.ReadHeader(sliceBytes(t, sl))
		if err != nil || h.BaseOffset != off/3*3 {
			t.Fatalf("Read(%d): batch %d, %v", off, h.BaseOffset, err)
		}
		if sl.Size != int64(h.Size()) {
			t.Fatalf("Read(%d, maxBytes 1): %d bytes, want one batch of %d", off, sl.Size, h.Size())
		}
	}
}

func TestReadBounds(t *testing.T) {
	l := mustOpen(t, t.TempDir(), Config{IndexIntervalBytes: 300, FlushMessages: 1 << 40})
	defer l.Close()
	batches := appendN(t, l, 20, 2, 100, 0) // offsets 0..39
	size := len(batches[0])
	for _, tc := range []struct {
		name      string
		offset    int64
		maxBytes  int32
		maxOffset int64
		wantBase  int64
		wantCount int
		err       error
	}{
		{"all", 0, 1 << 20, 1 << 40, 0, 20, nil},
		{"mid batch", 5, 1 << 20, 1 << 40, 4, 18, nil},
		{"maxBytes exact", 0, int32(3 * size), 1 << 40, 0, 3, nil},
		{"maxBytes short", 0, int32(3*size - 1), 1 << 40, 0, 2, nil},
		{"at least one", 10, 1, 1 << 40, 10, 1, nil},
		{"high watermark", 0, 1 << 20, 10, 0, 5, nil},
		{"hw inside batch", 0, 1 << 20, 11, 0, 5, nil},
		{"hw before batch end", 10, 1 << 20, 11, 0, 0, nil},
		{"at hw", 12, 1 << 20, 12, 0, 0, nil},
		{"at log end", 40, 1 << 20, 1 << 40, 0, 0, nil},
		{"beyond log end", 41, 1 << 20, 1 << 40, 0, 0, ErrOffsetOutOfRange},
		{"negative", -1, 1 << 20, 1 << 40, 0, 0, ErrOffsetOutOfRange},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sl, err := l.Read(tc.offset, tc.maxBytes, tc.maxOffset)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			got := sliceBytes(t, sl)
			if tc.wantCount == 0 {
				if len(got) != 0 {
					t.Fatalf("want empty, got %d bytes", len(got))
				}
				return
			}
			var want []byte
			for i := tc.wantBase / 2; i < tc.wantBase/2+int64(tc.wantCount); i++ {
				want = append(want, batches[i]...)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("got %d bytes, want %d (%d batches from %d)", len(got), len(want), tc.wantCount, tc.wantBase)
			}
		})
	}
}

func TestReopen(t *testing.T) {
	for _, clean := range []bool{true, false} {
		name := map[bool]string{true: "clean", false: "unclean"}[clean]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig()
			l := mustOpen(t, dir, cfg)
			var want []byte
			for _, b := range appendN(t, l, 40, 4, 90, 3) {
				want = append(want, b...)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if !clean {
				os.Remove(filepath.Join(dir, cleanShutdownName))
			}
			l = mustOpen(t, dir, cfg)
			if l.LogEndOffset() != 160 {
				t.Fatalf("LogEndOffset %d after reopen", l.LogEndOffset())
			}
			if got := readAll(t, l, 0); !bytes.Equal(got, want) {
				t.Fatalf("read back differs after reopen")
			}
			more := makeBatch(2, 10, 5000, 9)
			if res := mustAppend(t, l, more, leader(3)); res.FirstOffset != 160 {
				t.Fatalf("append after reopen at %d", res.FirstOffset)
			}
			want = append(want, more...)
			l.Close()
			l = mustOpen(t, dir, cfg)
			defer l.Close()
			if got := readAll(t, l, 0); !bytes.Equal(got, want) {
				t.Fatalf("read back differs after second reopen")
			}
		})
	}
}

func TestFollowerAppend(t *testing.T) {
	src := mustOpen(t, t.TempDir(), testConfig())
	defer src.Close()
	appendN(t, src, 10, 3, 50, 1)
	appendN(t, src, 10, 3, 50, 2)
	dst := mustOpen(t, t.TempDir(), testConfig())
	defer dst.Close()
	for off := int64(0); off < src.LogEndOffset(); {
		sl, err := src.Read(off, 700, src.LogEndOffset())
		if err != nil {
			t.Fatal(err)
		}
		b := sliceBytes(t, sl)
		if _, err := dst.Append(b, AppendOptions{}); err != nil {
			t.Fatalf("follower append at %d: %v", off, err)
		}
		off = dst.LogEndOffset()
	}
	if !bytes.Equal(readAll(t, dst, 0), readAll(t, src, 0)) {
		t.Fatal("follower log differs")
	}
	if e, off := dst.EndOffsetForEpoch(1); e != 1 || off != 30 {
		t.Fatalf("EndOffsetForEpoch(1) = %d, %d", e, off)
	}
	// A batch that goes back is refused, log untouched.
	b := makeBatch(1, 10, 0, 0)
	record.SetBaseOffset(b, 59)
	if _, err := dst.Append(b, AppendOptions{}); !errors.Is(err, ErrUnexpectedOffset) {
		t.Fatalf("overlap: %v", err)
	}
	record.SetBaseOffset(b, 60)
	record.SetPartitionLeaderEpoch(b, 1)
	if _, err := dst.Append(b, AppendOptions{}); !errors.Is(err, ErrStaleLeaderEpoch) {
		t.Fatalf("stale epoch: %v", err)
	}
	if dst.LogEndOffset() != 60 {
		t.Fatalf("LogEndOffset moved to %d", dst.LogEndOffset())
	}
	// A gap (a compacted leader's cleaned part) is accepted, moves the
	// cleaner checkpoint past it first, and survives recovery.
	record.SetBaseOffset(b, 100)
	record.SetPartitionLeaderEpoch(b, 2)
	if _, err := dst.Append(b, AppendOptions{}); err != nil {
		t.Fatalf("gap: %v", err)
	}
	if dst.LogEndOffset() != 101 || dst.CleanerCheckpoint() != 101 {
		t.Fatalf("after a gap: log end %d, cleaner checkpoint %d", dst.LogEndOffset(), dst.CleanerCheckpoint())
	}
	dir := dst.Dir()
	dst.Close()
	os.Remove(filepath.Join(dir, cleanShutdownName))
	dst = mustOpen(t, dir, testConfig())
	defer dst.Close()
	if dst.LogEndOffset() != 101 {
		t.Fatalf("recovery cut the gapped batch: log end %d", dst.LogEndOffset())
	}
	if sl, err := dst.Read(70, 1<<20, 1<<40); err != nil || sl.Size == 0 {
		t.Fatalf("Read in the gap: %v, %d bytes", err, sl.Size)
	}
}
