package storage

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/record"
)

// FuzzCleanSegment: the cleaner reads closed segments from disk; whatever
// their bytes, a pass fails cleanly or leaves a log that reads back
// valid, and never panics.
func FuzzCleanSegment(f *testing.F) {
	good := append(keyedBatch(f, record.CodecNone, 1, []kv{{key: "a", value: strp("1")}, {key: "b"}}),
		keyedBatch(f, record.CodecZstd, 2, []kv{{key: "a", value: strp("2")}})...)
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add([]byte{})
	bad := append([]byte(nil), good...)
	bad[70] ^= 0xff
	f.Add(bad)
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(segmentName(dir, 0, logExt), data, 0o644); err != nil {
			t.Fatal(err)
		}
		// The active segment starts after whatever offsets data claims.
		if err := os.WriteFile(segmentName(dir, 1<<40, logExt), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, cleanerCheckpointName), nil, 0o644)
		l, err := Open(dir, compactConfig())
		if err != nil {
			return
		}
		defer l.Close()
		if _, err := l.Clean(context.Background(), time.Unix(0, 0), CleanOptions{UpTo: math.MaxInt64}); err != nil {
			return
		}
		// Offsets from fuzzed bytes need not increase: stop when a read
		// makes no progress.
		for off, reads := l.LogStartOffset(), 0; off < 1<<40 && reads < 1000; reads++ {
			sl, err := l.Read(off, 1<<20, math.MaxInt64)
			if err != nil || sl.Size == 0 {
				return
			}
			from := off
			b := sliceBytes(t, sl)
			for len(b) > 0 {
				h, err := record.Validate(b[:headerSizeOf(b)])
				if err != nil {
					t.Fatalf("cleaned log serves a bad batch: %v", err)
				}
				off = max(off, h.NextOffset())
				b = b[h.Size():]
			}
			if off == from {
				return
			}
		}
	})
}

func FuzzSwapName(f *testing.F) {
	f.Add("00000000000000000000.00000000000000004211.swap")
	f.Add("00000000000000004211.00000000000000000000.swap")
	f.Add("x.swap")
	f.Fuzz(func(t *testing.T, name string) {
		base, end, ok := parseSwapName(name)
		if !ok {
			return
		}
		if base < 0 || end <= base {
			t.Fatalf("%q parsed as [%d, %d)", name, base, end)
		}
		if filepath.Base(swapName("", base, end)) != name {
			t.Fatalf("%q does not round-trip", name)
		}
	})
}
