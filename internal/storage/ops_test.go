package storage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/record"
)

// epochLog builds a log of 30 two-record batches: epochs 0, 2 and 5, ten
// batches each, over several segments.
func epochLog(t *testing.T, dir string, cfg Config) (*Log, [][]byte) {
	l := mustOpen(t, dir, cfg)
	var all [][]byte
	for _, e := range []int32{0, 2, 5} {
		all = append(all, appendN(t, l, 10, 2, 120, e)...)
	}
	return l, all
}

func TestEndOffsetForEpoch(t *testing.T) {
	l, _ := epochLog(t, t.TempDir(), testConfig())
	defer l.Close()
	for _, tc := range []struct {
		epoch     int32
		wantEpoch int32
		wantEnd   int64
	}{{-1, -1, -1}, {0, 0, 20}, {1, 0, 20}, {2, 2, 40}, {3, 2, 40}, {5, 5, 60}, {9, 5, 60}} {
		if e, end := l.EndOffsetForEpoch(tc.epoch); e != tc.wantEpoch || end != tc.wantEnd {
			t.Errorf("EndOffsetForEpoch(%d) = %d, %d; want %d, %d", tc.epoch, e, end, tc.wantEpoch, tc.wantEnd)
		}
	}
	if _, err := l.Append(makeBatch(1, 1, 0, 0), leader(4)); !errors.Is(err, ErrStaleLeaderEpoch) {
		t.Fatalf("append at an older epoch: %v", err)
	}
}

func TestTruncateTo(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	l, all := epochLog(t, dir, cfg)
	steps := []struct {
		to, wantEnd int64
	}{{60, 60}, {45, 44}, {41, 40}, {39, 38}, {7, 6}}
	for _, st := range steps {
		if err := l.TruncateTo(st.to); err != nil {
			t.Fatalf("TruncateTo(%d): %v", st.to, err)
		}
		if l.LogEndOffset() != st.wantEnd {
			t.Fatalf("TruncateTo(%d): LogEndOffset %d, want %d", st.to, l.LogEndOffset(), st.wantEnd)
		}
		if got := readAll(t, l, 0); !bytes.Equal(got, bytes.Join(all[:st.wantEnd/2], nil)) {
			t.Fatalf("TruncateTo(%d): content differs", st.to)
		}
	}
	if e, end := l.EndOffsetForEpoch(5); e != 0 || end != 6 {
		t.Fatalf("after truncation EndOffsetForEpoch(5) = %d, %d", e, end)
	}
	// The follower continues at a new epoch; reopen both ways.
	more := appendN(t, l, 12, 2, 120, 6)
	want := append(bytes.Join(all[:3], nil), bytes.Join(more, nil)...)
	for _, clean := range []bool{true, false} {
		l.Close()
		if !clean {
			os.Remove(filepath.Join(dir, cleanShutdownName))
		}
		l = mustOpen(t, dir, cfg)
		if got := readAll(t, l, 0); !bytes.Equal(got, want) {
			t.Fatalf("clean=%v: content differs after reopen", clean)
		}
		if e, end := l.EndOffsetForEpoch(5); e != 0 || end != 6 {
			t.Fatalf("clean=%v: EndOffsetForEpoch(5) = %d, %d", clean, e, end)
		}
		if e, end := l.EndOffsetForEpoch(6); e != 6 || end != 30 {
			t.Fatalf("clean=%v: EndOffsetForEpoch(6) = %d, %d", clean, e, end)
		}
	}
	if err := l.TruncateTo(0); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != 0 || l.LogStartOffset() != 0 || len(l.segs()) != 1 {
		t.Fatalf("TruncateTo(0): end %d start %d segments %d", l.LogEndOffset(), l.LogStartOffset(), len(l.segs()))
	}
	if e, _ := l.EndOffsetForEpoch(9); e != -1 {
		t.Fatalf("epochs left after full truncation: %d", e)
	}
	l.Close()
}

func TestTruncateFullyAndStartAt(t *testing.T) {
	dir := t.TempDir()
	l, _ := epochLog(t, dir, testConfig())
	if err := l.TruncateFullyAndStartAt(1000); err != nil {
		t.Fatal(err)
	}
	b := makeBatch(2, 5, 1, 1)
	record.SetBaseOffset(b, 1000)
	record.SetPartitionLeaderEpoch(b, 7)
	mustAppend(t, l, b, AppendOptions{})
	l.Close()
	l = mustOpen(t, dir, testConfig())
	defer l.Close()
	if l.LogStartOffset() != 1000 || l.LogEndOffset() != 1002 {
		t.Fatalf("start %d end %d", l.LogStartOffset(), l.LogEndOffset())
	}
	if _, err := l.Read(999, 100, 2000); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("Read below start: %v", err)
	}
	if got := readAll(t, l, 1000); !bytes.Equal(got, b) {
		t.Fatal("content differs")
	}
}

func TestDeleteRecordsBefore(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 2048
	l, all := epochLog(t, dir, cfg)
	segsBefore := len(l.segs())
	// Hold a slice of the first segment across its deletion.
	held, err := l.Read(0, 1<<20, 1<<40)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.DeleteRecordsBefore(25); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 25 {
		t.Fatalf("LogStartOffset %d", l.LogStartOffset())
	}
	if len(l.segs()) >= segsBefore {
		t.Fatalf("no segment deleted (%d before, %d after)", segsBefore, len(l.segs()))
	}
	// The deleted segment is retired: a held slice reads the old bytes
	// until file.delete.delay.ms has passed, then fails.
	if _, err := held.File.ReadAt(make([]byte, 10), held.Pos); err != nil {
		t.Fatalf("slice of a just deleted segment: %v", err)
	}
	if _, err := l.ApplyRetention(time.Now().Add(DefaultFileDeleteDelay), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := held.File.ReadAt(make([]byte, 10), held.Pos); err == nil {
		t.Fatal("slice of a deleted segment readable after the delete delay")
	}
	if _, err := l.Read(24, 100, 1<<40); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("Read(24): %v", err)
	}
	sl, err := l.Read(25, 1, 1<<40)
	if err != nil || !bytes.Equal(sliceBytes(t, sl), all[12]) {
		t.Fatalf("Read(25): %v", err)
	}
	if e, end := l.EndOffsetForEpoch(2); e != 2 || end != 40 {
		t.Fatalf("EndOffsetForEpoch(2) = %d, %d", e, end)
	}
	if e, end := l.EndOffsetForEpoch(0); e != -1 || end != -1 {
		t.Fatalf("EndOffsetForEpoch(0) after the epoch was deleted = %d, %d", e, end)
	}
	if err := l.DeleteRecordsBefore(61); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("beyond log end: %v", err)
	}
	if err := l.DeleteRecordsBefore(10); err != nil || l.LogStartOffset() != 25 {
		t.Fatalf("moving back: %v, start %d", err, l.LogStartOffset())
	}
	l.Close()
	l = mustOpen(t, dir, cfg)
	if l.LogStartOffset() != 25 {
		t.Fatalf("LogStartOffset %d after reopen", l.LogStartOffset())
	}
	// Everything.
	if err := l.DeleteRecordsBefore(60); err != nil {
		t.Fatal(err)
	}
	if segs := l.segs(); len(segs) != 1 || segs[0].baseOffset != 60 || l.LogStartOffset() != 60 {
		t.Fatalf("after deleting all: %d segments, start %d", len(segs), l.LogStartOffset())
	}
	if res := mustAppend(t, l, makeBatch(1, 1, 1, 1), leader(5)); res.FirstOffset != 60 {
		t.Fatalf("append at %d", res.FirstOffset)
	}
	names, _ := readDirNames(dir)
	for _, n := range names {
		if base, ok := parseSegmentName(n, logExt); ok && base != 60 {
			t.Fatalf("segment file %s left", n)
		}
	}
	l.Close()
}

func TestOffsetForTimestamp(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	l := mustOpen(t, dir, cfg)
	// Batch i holds offsets 2i, 2i+1 with timestamps ts_i, ts_i+1;
	// ts_i = 1000+10i except batch 15, which is late (older).
	tsOf := func(i int) int64 {
		if i == 15 {
			return 500
		}
		return int64(1000 + 10*i)
	}
	for i := 0; i < 40; i++ {
		mustAppend(t, l, makeBatch(2, 150, tsOf(i), byte(i)), leader(0))
	}
	check := func(stage string) {
		for _, tc := range []struct {
			ts, wantOff, wantTs int64
			ok                  bool
		}{
			{0, 0, 1000, true},
			{1001, 1, 1001, true},
			{1002, 2, 1010, true},
			{1145, 32, 1160, true}, // batch 15 is older, skipped
			{1391, 79, 1391, true},
			{1392, 0, 0, false},
		} {
			off, ts, ok, err := l.OffsetForTimestamp(tc.ts)
			if err != nil || ok != tc.ok || (ok && (off != tc.wantOff || ts != tc.wantTs)) {
				t.Errorf("%s: OffsetForTimestamp(%d) = %d, %d, %v, %v; want %d, %d, %v", stage, tc.ts, off, ts, ok, err, tc.wantOff, tc.wantTs, tc.ok)
			}
		}
		ts, off, err := l.MaxTimestamp()
		if err != nil || ts != 1391 || off != 79 {
			t.Errorf("%s: MaxTimestamp = %d, %d, %v", stage, ts, off, err)
		}
	}
	check("open")
	l.Close()
	l = mustOpen(t, dir, cfg)
	check("reopened")
	if err := l.DeleteRecordsBefore(33); err != nil {
		t.Fatal(err)
	}
	if off, _, ok, _ := l.OffsetForTimestamp(0); !ok || off != 33 {
		t.Errorf("after DeleteRecordsBefore(33): OffsetForTimestamp(0) = %d, %v", off, ok)
	}
	l.Close()
}

func TestLogAppendTime(t *testing.T) {
	l := mustOpen(t, t.TempDir(), testConfig())
	defer l.Close()
	b := makeBatch(3, 10, 100, 0)
	res := mustAppend(t, l, b, AppendOptions{AssignOffsets: true, LogAppendTime: 777})
	h, err := record.Validate(b)
	if err != nil || h.MaxTimestamp != 777 || !h.LogAppendTime() || res.MaxTimestamp != 777 {
		t.Fatalf("header %+v, result %+v, %v", h, res, err)
	}
}

func TestFlushPolicy(t *testing.T) {
	t.Run("durable", func(t *testing.T) {
		l := mustOpen(t, t.TempDir(), Config{})
		defer l.Close()
		for i := 0; i < 5; i++ {
			mustAppend(t, l, makeBatch(2, 10, 0, 0), leader(0))
			if l.FlushedOffset() != l.LogEndOffset() {
				t.Fatalf("flushed %d, end %d", l.FlushedOffset(), l.LogEndOffset())
			}
		}
	})
	t.Run("messages", func(t *testing.T) {
		l := mustOpen(t, t.TempDir(), Config{FlushMessages: 5})
		defer l.Close()
		mustAppend(t, l, makeBatch(2, 10, 0, 0), leader(0))
		mustAppend(t, l, makeBatch(2, 10, 0, 0), leader(0))
		if l.FlushedOffset() != 0 {
			t.Fatalf("flushed %d after 4 messages", l.FlushedOffset())
		}
		mustAppend(t, l, makeBatch(1, 10, 0, 0), leader(0))
		if l.FlushedOffset() != 5 {
			t.Fatalf("flushed %d after 5 messages", l.FlushedOffset())
		}
	})
	t.Run("ms", func(t *testing.T) {
		l := mustOpen(t, t.TempDir(), Config{FlushMessages: 1 << 40, FlushMs: time.Minute})
		defer l.Close()
		mustAppend(t, l, makeBatch(2, 10, 0, 0), leader(0))
		now := time.Now()
		if err := l.FlushIfDue(now); err != nil || l.FlushedOffset() != 0 {
			t.Fatalf("flushed early: %v, %d", err, l.FlushedOffset())
		}
		if err := l.FlushIfDue(now.Add(2 * time.Minute)); err != nil || l.FlushedOffset() != 2 {
			t.Fatalf("not flushed when due: %v, %d", err, l.FlushedOffset())
		}
	})
}

func TestSegmentMs(t *testing.T) {
	l := mustOpen(t, t.TempDir(), Config{SegmentMs: time.Hour, FlushMessages: 1 << 40})
	defer l.Close()
	now := time.Unix(1_000_000, 0)
	l.clock = func() time.Time { return now }
	mustAppend(t, l, makeBatch(1, 10, 0, 0), leader(0))
	mustAppend(t, l, makeBatch(1, 10, 0, 0), leader(0))
	if len(l.segs()) != 1 {
		t.Fatal("rolled early")
	}
	now = now.Add(time.Hour)
	mustAppend(t, l, makeBatch(1, 10, 0, 0), leader(0))
	if segs := l.segs(); len(segs) != 2 || segs[1].baseOffset != 2 {
		t.Fatalf("not rolled by time: %d segments", len(segs))
	}
}

func TestIndexFullRoll(t *testing.T) {
	l := mustOpen(t, t.TempDir(), Config{SegmentIndexBytes: 64, IndexIntervalBytes: 1, FlushMessages: 1 << 40})
	defer l.Close()
	appendN(t, l, 40, 1, 10, 0)
	if len(l.segs()) < 3 {
		t.Fatalf("index-full rolls: %d segments", len(l.segs()))
	}
	for _, s := range l.segs() {
		if s.index.count()*offsetEntrySize > 64 || s.timeIndex.count()*timeEntrySize > 64 {
			t.Fatalf("segment %d: index over its limit", s.baseOffset)
		}
	}
}

func TestInvalidAppend(t *testing.T) {
	l := mustOpen(t, t.TempDir(), Config{SegmentBytes: 1000, FlushMessages: 1 << 40})
	defer l.Close()
	good := makeBatch(1, 10, 0, 0)
	for name, tc := range map[string]struct {
		b   []byte
		err error
	}{
		"empty":     {nil, ErrInvalidBatches},
		"torn":      {append(bytes.Clone(good), good[:30]...), ErrInvalidBatches},
		"magic":     {func() []byte { b := bytes.Clone(good); b[16] = 1; return b }(), ErrInvalidBatches},
		"too large": {makeBatch(1, 2000, 0, 0), ErrBatchTooLarge},
	} {
		if _, err := l.Append(tc.b, leader(0)); !errors.Is(err, tc.err) {
			t.Errorf("%s: %v, want %v", name, err, tc.err)
		}
	}
	if l.LogEndOffset() != 0 || l.segs()[0].size.Load() != 0 {
		t.Fatal("a refused append changed the log")
	}
}

// TestConcurrentReaders runs readers against a writer, retention and
// group-committed appenders; meant for -race.
func TestConcurrentReaders(t *testing.T) {
	l := mustOpen(t, t.TempDir(), Config{SegmentBytes: 8 << 10, IndexIntervalBytes: 256})
	defer l.Close()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int64(0); ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Microsecond): // pace, leave CPU to the writers
				}
				start, end := l.LogStartOffset(), l.LogEndOffset()
				if end == start {
					continue
				}
				off := start + i%(end-start)
				sl, err := l.Read(off, 4096, end)
				if errors.Is(err, ErrOffsetOutOfRange) {
					continue // retention moved the start
				}
				if err != nil {
					t.Errorf("Read(%d): %v", off, err)
					return
				}
				b := make([]byte, sl.Size)
				if _, err := sl.File.ReadAt(b, sl.Pos); err != nil {
					continue // deleted under us: allowed
				}
				for len(b) > 0 {
					h, err := record.Validate(b[:headerSizeOf(b)])
					if err != nil {
						t.Errorf("Read(%d) served a bad batch: %v", off, err)
						return
					}
					b = b[h.Size():]
				}
			}
		}()
	}
	var writers sync.WaitGroup
	for w := 0; w < 4; w++ {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := 0; i < 100; i++ {
				if _, err := l.Append(makeBatch(3, 100, int64(i), byte(i)), leader(0)); err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				if i%25 == 24 {
					if err := l.DeleteRecordsBefore(l.LogEndOffset() / 2); err != nil {
						t.Errorf("DeleteRecordsBefore: %v", err)
					}
				}
			}
		}()
	}
	writers.Wait()
	close(stop)
	wg.Wait()
	if l.LogEndOffset() != 1200 || l.FlushedOffset() != 1200 {
		t.Fatalf("end %d flushed %d", l.LogEndOffset(), l.FlushedOffset())
	}
}

// TestLeftoverSegmentsBelowStart: segments a crash kept below the log
// start offset are removed at Open.
func TestLeftoverSegmentsBelowStart(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 2048
	l, _ := epochLog(t, dir, cfg)
	first := segmentName(dir, 0, logExt)
	old, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.DeleteRecordsBefore(30); err != nil {
		t.Fatal(err)
	}
	l.Close()
	os.WriteFile(first, old, 0o644) // as if the unlink had not reached the disk
	l = mustOpen(t, dir, cfg)
	defer l.Close()
	if _, err := os.Stat(first); err == nil || l.segs()[0].baseOffset == 0 || l.LogStartOffset() != 30 {
		t.Fatalf("leftover segment kept: start %d, first segment %d", l.LogStartOffset(), l.segs()[0].baseOffset)
	}
}
