package storage

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/record"
)

// retentionLog appends 20 batches of 5 records with timestamps 1000*i
// (batch i holds offsets 5i..5i+4) into ~4-batch segments.
func retentionLog(t *testing.T, cfg Config) *Log {
	t.Helper()
	cfg.SegmentBytes = 2100
	l := mustOpen(t, t.TempDir(), cfg)
	t.Cleanup(func() { l.Close() })
	for i := 0; i < 20; i++ {
		if _, err := l.Append(makeBatch(5, 80, int64(1000*i), byte(i)), leader(0)); err != nil {
			t.Fatal(err)
		}
	}
	if len(l.segs()) < 4 {
		t.Fatalf("only %d segments", len(l.segs()))
	}
	return l
}

func TestRetention(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   Config
		now   int64 // ms
		upTo  int64
		start func(l *Log) int64 // expected log start offset
	}{
		{"no delete policy", Config{RetentionMs: 1}, 1e9, math.MaxInt64, func(*Log) int64 { return 0 }},
		{"nothing expired", Config{CleanupDelete: true, RetentionMs: time.Hour, RetentionBytes: -1}, 20000, math.MaxInt64, func(*Log) int64 { return 0 }},
		{"by time", Config{CleanupDelete: true, RetentionMs: 5 * time.Second, RetentionBytes: -1}, 15500, math.MaxInt64,
			func(l *Log) int64 { return firstSegmentWithTimestampAbove(t, l, 15500-5000) }},
		{"by time, all expired: roll and delete the active one too", Config{CleanupDelete: true, RetentionMs: time.Second, RetentionBytes: -1}, 1e9, math.MaxInt64,
			func(*Log) int64 { return 100 }},
		{"by time, bounded by the high watermark", Config{CleanupDelete: true, RetentionMs: time.Second, RetentionBytes: -1}, 1e9, 30,
			func(l *Log) int64 { return lastBaseAtOrBelow(l, 30) }},
		{"by size", Config{CleanupDelete: true, RetentionMs: -1, RetentionBytes: 4200}, 0, math.MaxInt64,
			func(l *Log) int64 { return baseKeepingBytes(t, l, 4200) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := retentionLog(t, tc.cfg)
			want := tc.start(l)
			if _, err := l.ApplyRetention(time.UnixMilli(tc.now), tc.upTo); err != nil {
				t.Fatal(err)
			}
			if got := l.LogStartOffset(); got != want {
				t.Fatalf("LogStartOffset %d, want %d", got, want)
			}
			if l.LogEndOffset() != 100 {
				t.Fatalf("LogEndOffset %d", l.LogEndOffset())
			}
			if want < 100 {
				if _, err := l.Read(want, 1, math.MaxInt64); err != nil {
					t.Fatalf("Read(%d): %v", want, err)
				}
			}
			if want > 0 {
				if _, err := l.Read(want-1, 1, math.MaxInt64); !errors.Is(err, ErrOffsetOutOfRange) {
					t.Fatalf("Read(%d) below the start: %v", want-1, err)
				}
			}
			// The new start survives a reopen (and appends go on).
			dir := l.Dir()
			l.Close()
			l2 := mustOpen(t, dir, tc.cfg)
			defer l2.Close()
			if l2.LogStartOffset() != want || l2.LogEndOffset() != 100 {
				t.Fatalf("after reopen: start %d end %d", l2.LogStartOffset(), l2.LogEndOffset())
			}
			if _, err := l2.Append(makeBatch(1, 10, 0, 1), leader(0)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// firstSegmentWithTimestampAbove: the base offset of the first segment
// whose largest timestamp is above limit.
func firstSegmentWithTimestampAbove(t *testing.T, l *Log, limit int64) int64 {
	for _, s := range l.segs() {
		ts, err := l.segmentTimestamp(s)
		if err != nil {
			t.Fatal(err)
		}
		if ts > limit {
			return s.baseOffset
		}
	}
	return l.LogEndOffset()
}

func lastBaseAtOrBelow(l *Log, offset int64) int64 {
	segs := l.segs()
	base := int64(0)
	for i, s := range segs {
		next := l.LogEndOffset()
		if i+1 < len(segs) {
			next = segs[i+1].baseOffset
		}
		if next <= offset {
			base = next
		} else {
			_ = s
			break
		}
	}
	return base
}

// baseKeepingBytes: the base of the oldest segment kept when the newest
// segments are kept while at least limit bytes remain.
func baseKeepingBytes(t *testing.T, l *Log, limit int64) int64 {
	segs := l.segs()
	var total int64
	for _, s := range segs {
		sz, _ := s.sizeOnDisk()
		total += sz
	}
	for _, s := range segs {
		sz, _ := s.sizeOnDisk()
		if total-sz < limit {
			return s.baseOffset
		}
		total -= sz
	}
	return l.LogEndOffset()
}

// TestRetentionHeldSlice: a reader holding a slice of a segment that
// retention deletes keeps reading valid bytes until the delete delay.
func TestRetentionHeldSlice(t *testing.T) {
	l := retentionLog(t, Config{CleanupDelete: true, RetentionMs: time.Second, RetentionBytes: -1, FileDeleteDelayMs: time.Minute})
	held, err := l.Read(0, 1<<20, math.MaxInt64)
	if err != nil {
		t.Fatal(err)
	}
	want := sliceBytes(t, held)
	now := time.UnixMilli(1e9)
	if n, err := l.ApplyRetention(now, math.MaxInt64); err != nil || n == 0 {
		t.Fatalf("ApplyRetention: %d, %v", n, err)
	}
	if got := sliceBytes(t, held); string(got) != string(want) {
		t.Fatal("held slice changed")
	}
	if _, err := l.ApplyRetention(now.Add(time.Minute), math.MaxInt64); err != nil {
		t.Fatal(err)
	}
	if _, err := held.File.ReadAt(make([]byte, 1), held.Pos); err == nil {
		t.Fatal("retired descriptor still open after the delay")
	}
}

// TestRetentionWithCompaction: cleanup.policy=compact,delete both
// deletes expired segments and compacts the rest.
func TestRetentionWithCompaction(t *testing.T) {
	cfg := compactConfig()
	cfg.CleanupDelete, cfg.RetentionMs, cfg.RetentionBytes = true, time.Second, -1
	l := mustOpen(t, t.TempDir(), cfg)
	defer l.Close()
	for i := 0; i < 200; i++ {
		ts := int64(i) // the first half is old, the second half recent
		if i >= 100 {
			ts = 1e9
		}
		mustAppend(t, l, keyedBatch(t, record.CodecNone, ts, []kv{{key: fmt.Sprintf("k%d", i%10), value: strp(fmt.Sprint(i))}}), leader(0))
	}
	roll(t, l)
	if n, err := l.ApplyRetention(time.UnixMilli(1e9), math.MaxInt64); err != nil || n == 0 {
		t.Fatalf("ApplyRetention: %d, %v", n, err)
	}
	start := l.LogStartOffset()
	if start == 0 || start > 100 {
		t.Fatalf("log start %d", start)
	}
	if _, err := l.Clean(context.Background(), time.UnixMilli(1e9), CleanOptions{UpTo: math.MaxInt64}); err != nil {
		t.Fatal(err)
	}
	got := readRecords(t, l)
	if len(got) != 10 || got[0].offset != 190 {
		t.Fatalf("after retention and compaction: %v", got)
	}
}

func TestThrottle(t *testing.T) {
	if NewThrottle(0) != nil || NewThrottle(math.MaxInt64) != nil {
		t.Fatal("no limit should be a nil Throttle")
	}
	var none *Throttle
	if err := none.Wait(context.Background(), 1<<30); err != nil {
		t.Fatal(err)
	}
	// A budget of one byte a second: a kilobyte waits until the context
	// ends.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := NewThrottle(1).Wait(ctx, 1000); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait: %v", err)
	}
}
