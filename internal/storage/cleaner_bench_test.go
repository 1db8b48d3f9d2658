package storage

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/record"
)

// writeKeyed appends n records over keys distinct keys through the
// storage API (batches of 100, small values) and rolls, so that all of it
// is cleanable. It returns the bytes appended.
func writeKeyed(tb testing.TB, l *Log, n, keys int, codec record.Codec) int64 {
	tb.Helper()
	var total int64
	b := record.NewBuilder(0, codec)
	value := make([]byte, 40)
	for i := 0; i < n; {
		b.Reset()
		for j := 0; j < 100 && i < n; j, i = j+1, i+1 {
			copy(value, fmt.Sprintf("value-%d", i))
			b.Add(int64(i), fmt.Appendf(nil, "key-%06d", i%keys), value)
		}
		batch, err := b.Build()
		if err != nil {
			tb.Fatal(err)
		}
		total += int64(len(batch))
		if _, err := l.Append(batch, leader(0)); err != nil {
			tb.Fatal(err)
		}
	}
	roll(tb, l)
	return total
}

func bigConfig() Config {
	return Config{SegmentBytes: 8 << 20, FlushMessages: 1 << 62, CleanupCompact: true, DeleteRetentionMs: time.Hour}
}

// TestCleanManyKeys: 200,000 writes over 10,000 keys compact to exactly
// 10,000 records, one per key (the million-record run is
// BenchmarkClean1M).
func TestCleanManyKeys(t *testing.T) {
	l := mustOpen(t, t.TempDir(), bigConfig())
	defer l.Close()
	writeKeyed(t, l, 200_000, 10_000, record.CodecNone)
	st, err := l.Clean(context.Background(), time.Now(), CleanOptions{UpTo: math.MaxInt64})
	if err != nil {
		t.Fatal(err)
	}
	if st.RecordsRead != 200_000 || st.RecordsKept != 10_000 {
		t.Fatalf("read %d records, kept %d", st.RecordsRead, st.RecordsKept)
	}
	recs := readRecords(t, l)
	if len(recs) != 10_000 || recs[0].offset != 190_000 {
		t.Fatalf("%d records after cleaning, first at %d", len(recs), recs[0].offset)
	}
}

// TestCleanKeyMapFull: a pass stops where its key map filled; the next
// one goes on from there.
func TestCleanKeyMapFull(t *testing.T) {
	cfg := bigConfig()
	cfg.SegmentBytes = 64 << 10
	l := mustOpen(t, t.TempDir(), cfg)
	defer l.Close()
	writeKeyed(t, l, 20_000, 5_000, record.CodecNone)
	st, err := l.Clean(context.Background(), time.Now(), CleanOptions{UpTo: math.MaxInt64, MaxKeys: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if st.EndOffset >= l.LogEndOffset() || st.EndOffset == 0 {
		t.Fatalf("a pass with a small key map ended at %d of %d", st.EndOffset, l.LogEndOffset())
	}
	for i := 0; l.CleanerCheckpoint() < l.LogEndOffset(); i++ {
		if i > 100 {
			t.Fatal("passes make no progress")
		}
		if _, err := l.Clean(context.Background(), time.Now(), CleanOptions{UpTo: math.MaxInt64, MaxKeys: 1000}); err != nil {
			t.Fatal(err)
		}
	}
	// Cleaning from the start with a full map leaves one per key.
	if _, err := l.Clean(context.Background(), time.Now(), CleanOptions{UpTo: math.MaxInt64}); err != nil {
		t.Fatal(err)
	}
	if n := len(readRecords(t, l)); n < 5_000 {
		t.Fatalf("%d records, want at least one per key", n)
	}
}

// BenchmarkClean1M: 1,000,000 writes over 10,000 keys (about 60 MB) are
// compacted in one pass; MB/s is of the log read by the pass.
//
//	go test -run '^$' -bench BenchmarkClean1M -benchtime 3x ./internal/storage/
func BenchmarkClean1M(b *testing.B) {
	for _, codec := range []record.Codec{record.CodecNone, record.CodecZstd} {
		b.Run(codec.String(), func(b *testing.B) {
			src := b.TempDir()
			l := mustOpen(b, src, bigConfig())
			writeKeyed(b, l, 1_000_000, 10_000, codec)
			if err := l.Close(); err != nil {
				b.Fatal(err)
			}
			var size int64
			var kept int64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				dir := filepath.Join(b.TempDir(), "p")
				copyDir(b, src, dir)
				l := mustOpen(b, dir, bigConfig())
				b.StartTimer()
				st, err := l.Clean(context.Background(), time.Now(), CleanOptions{UpTo: math.MaxInt64})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				size, kept = st.BytesRead, st.RecordsKept
				l.Close()
			}
			b.SetBytes(size)
			b.ReportMetric(float64(kept), "records-kept")
		})
	}
}

func copyDir(tb testing.TB, from, to string) {
	tb.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		tb.Fatal(err)
	}
	names, err := readDirNames(from)
	if err != nil {
		tb.Fatal(err)
	}
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(from, n))
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, n), data, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}
