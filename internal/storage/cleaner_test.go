package storage

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/record"
)

// kv is one record as a test sees it.
type kv struct {
	offset int64
	key    string
	value  *string // nil: tombstone
}

func (r kv) String() string {
	if r.value == nil {
		return fmt.Sprintf("%d:%s=<nil>", r.offset, r.key)
	}
	return fmt.Sprintf("%d:%s=%s", r.offset, r.key, *r.value)
}

func strp(s string) *string { return &s }

// keyedBatch builds one batch of keyed records (nil value: tombstone).
func keyedBatch(t testing.TB, codec record.Codec, ts int64, recs []kv) []byte {
	t.Helper()
	b := record.NewBuilder(0, codec)
	for _, r := range recs {
		var v []byte
		if r.value != nil {
			v = []byte(*r.value)
		}
		b.Add(ts, []byte(r.key), v)
	}
	out, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// readRecords reads every record from the log start to the log end,
// checking CRCs and that offsets strictly increase.
func readRecords(t testing.TB, l *Log) []kv {
	t.Helper()
	var out []kv
	var it record.RecordIter
	last := int64(-1)
	for off := l.LogStartOffset(); off < l.LogEndOffset(); {
		sl, err := l.Read(off, 1<<20, math.MaxInt64)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		if sl.Size == 0 {
			break // a trailing gap: nothing after off yet
		}
		b := sliceBytes(t, sl)
		for len(b) > 0 {
			h, err := record.Validate(b[:headerSizeOf(b)])
			if err != nil {
				t.Fatalf("Read(%d) served a bad batch: %v", off, err)
			}
			if err := it.Reset(b[:h.Size()], 0); err != nil {
				t.Fatal(err)
			}
			for r, ok := it.Next(); ok; r, ok = it.Next() {
				if r.Offset <= last {
					t.Fatalf("offset %d after %d", r.Offset, last)
				}
				last = r.Offset
				rec := kv{offset: r.Offset, key: string(r.Key)}
				if r.Value != nil {
					rec.value = strp(string(r.Value))
				}
				out = append(out, rec)
			}
			if it.Err() != nil {
				t.Fatal(it.Err())
			}
			off = h.NextOffset()
			b = b[h.Size():]
		}
	}
	return out
}

// roll closes the active segment so that the cleaner may clean all of it.
func roll(t testing.TB, l *Log) {
	t.Helper()
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if _, err := l.activeLocked(); err != nil {
		t.Fatal(err)
	}
	if l.w.active.seg.size.Load() == 0 {
		return
	}
	if err := l.rollLocked(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
}

func compactConfig() Config {
	return Config{SegmentBytes: 4096, IndexIntervalBytes: 256, FlushMessages: 1 << 62,
		CleanupCompact: true, DeleteRetentionMs: time.Hour}
}

var codecs = []record.Codec{record.CodecNone, record.CodecGzip, record.CodecSnappy, record.CodecLZ4, record.CodecZstd}

// modelWrites appends n random keyed batches (tombstones included, random
// codecs) and returns the model: the last record of each key.
func modelWrites(t testing.TB, l *Log, rng *rand.Rand, n, keys int, model map[string]kv) {
	t.Helper()
	for i := 0; i < n; i++ {
		recs := make([]kv, 1+rng.IntN(4))
		for j := range recs {
			recs[j].key = fmt.Sprintf("k%03d", rng.IntN(keys))
			if rng.IntN(10) > 0 {
				recs[j].value = strp(fmt.Sprintf("v%d-%d", i, j))
			}
		}
		res := mustAppend(t, l, keyedBatch(t, codecs[rng.IntN(len(codecs))], int64(i), recs), leader(0))
		for j, r := range recs {
			r.offset = res.FirstOffset + int64(j)
			model[r.key] = r
		}
	}
}

// checkModel: after a full clean, the log holds exactly the model's last
// records (tombstones only if kept).
func checkModel(t *testing.T, l *Log, model map[string]kv, tombstones bool) {
	t.Helper()
	got := readRecords(t, l)
	var want []kv
	for _, r := range model {
		if r.value != nil || tombstones {
			want = append(want, r)
		}
	}
	slices.SortFunc(want, func(a, b kv) int { return int(a.offset - b.offset) })
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after cleaning:\n got %d records %v\nwant %d records %v", len(got), got, len(want), want)
	}
}

// TestCleanModel: random keyed writes and tombstones against a map; after
// cleaning, reading from the start yields exactly the map's last values,
// and tombstones go once delete.retention.ms has passed since their
// segment was first cleaned.
func TestCleanModel(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, seed))
			l := mustOpen(t, t.TempDir(), compactConfig())
			defer l.Close()
			model := map[string]kv{}
			now := time.Unix(1_000_000, 0)
			// Several rounds of writes with passes in between, so that
			// passes merge clean and dirty segments.
			for round := 0; round < 4; round++ {
				modelWrites(t, l, rng, 150, 40, model)
				if _, err := l.Clean(context.Background(), now, CleanOptions{UpTo: math.MaxInt64}); err != nil {
					t.Fatal(err)
				}
			}
			roll(t, l)
			st, err := l.Clean(context.Background(), now, CleanOptions{UpTo: math.MaxInt64})
			if err != nil {
				t.Fatal(err)
			}
			if st.EndOffset != l.LogEndOffset() || l.CleanerCheckpoint() != l.LogEndOffset() {
				t.Fatalf("pass ended at %d, checkpoint %d, log end %d", st.EndOffset, l.CleanerCheckpoint(), l.LogEndOffset())
			}
			checkModel(t, l, model, true)

			// Reopen: the cleaned log (gaps included) recovers as is.
			dir := l.Dir()
			l.Close()
			os.Remove(filepath.Join(dir, cleanShutdownName)) // force recovery
			l = mustOpen(t, dir, compactConfig())
			checkModel(t, l, model, true)

			// Within delete.retention.ms tombstones stay; after it they go.
			modelWrites(t, l, rng, 5, 40, model)
			roll(t, l)
			if _, err := l.Clean(context.Background(), now.Add(30*time.Minute), CleanOptions{UpTo: math.MaxInt64}); err != nil {
				t.Fatal(err)
			}
			checkModel(t, l, model, true)
			modelWrites(t, l, rng, 5, 40, model)
			roll(t, l)
			if _, err := l.Clean(context.Background(), now.Add(2*time.Hour), CleanOptions{UpTo: math.MaxInt64}); err != nil {
				t.Fatal(err)
			}
			// The last pass's own dirty tombstones are new: they stay.
			checkModelTombstonesAfter(t, l, model, l.LogEndOffset()-5*4)
		})
	}
}

// checkModelTombstonesAfter: live values all present, and tombstones only
// where they could be recent (offset >= recent).
func checkModelTombstonesAfter(t *testing.T, l *Log, model map[string]kv, recent int64) {
	t.Helper()
	got := readRecords(t, l)
	byKey := map[string]kv{}
	for _, r := range got {
		if _, dup := byKey[r.key]; dup {
			t.Fatalf("key %s twice after a full clean", r.key)
		}
		byKey[r.key] = r
		if r.value == nil && r.offset < recent {
			t.Fatalf("expired tombstone kept: %v", r)
		}
	}
	for k, r := range model {
		g, ok := byKey[k]
		switch {
		case r.value != nil && (!ok || g.String() != r.String()):
			t.Fatalf("key %s: got %v, want %v", k, g, r)
		case r.value == nil && ok && g.String() != r.String():
			t.Fatalf("deleted key %s: got %v", k, g)
		}
	}
}

// TestCleanDirtyRatio: CleaningNeed follows min.cleanable.dirty.ratio,
// and the active segment and min.compaction.lag.ms hold data back.
func TestCleanDirtyRatio(t *testing.T) {
	cfg := compactConfig()
	cfg.MinCleanableDirtyRatio = 0.5
	l := mustOpen(t, t.TempDir(), cfg)
	defer l.Close()
	now := time.UnixMilli(100_000)
	rng := rand.New(rand.NewPCG(1, 2))
	modelWrites(t, l, rng, 100, 1000, map[string]kv{})
	roll(t, l)
	need, err := l.CleaningNeed(now, math.MaxInt64)
	if err != nil || !need.Due || need.DirtyRatio != 1 {
		t.Fatalf("fresh log: %+v %v", need, err)
	}
	// Nothing below the high watermark: nothing to clean.
	if need, _ := l.CleaningNeed(now, 0); need.Due {
		t.Fatalf("due with high watermark 0: %+v", need)
	}
	// min.compaction.lag.ms: records with timestamps 0..99 are too young at 100 ms with a lag of 1 s.
	cfg.MinCompactionLagMs = time.Second
	l.SetConfig(cfg)
	if need, _ := l.CleaningNeed(time.UnixMilli(500), math.MaxInt64); need.Due {
		t.Fatalf("due within min.compaction.lag.ms: %+v", need)
	}
	cfg.MinCompactionLagMs = 0
	l.SetConfig(cfg)
	if _, err := l.Clean(context.Background(), now, CleanOptions{UpTo: math.MaxInt64}); err != nil {
		t.Fatal(err)
	}
	if need, _ := l.CleaningNeed(now, math.MaxInt64); need.Due {
		t.Fatalf("due right after a clean: %+v", need)
	}
	// max.compaction.lag.ms forces a clean of a little dirty data.
	modelWrites(t, l, rng, 3, 1000, map[string]kv{})
	roll(t, l)
	if need, _ := l.CleaningNeed(now, math.MaxInt64); need.Due || need.DirtyRatio >= 0.5 || need.DirtyRatio == 0 {
		t.Fatalf("a little dirty data: %+v", need)
	}
	cfg.MaxCompactionLagMs = time.Second
	l.SetConfig(cfg)
	if need, _ := l.CleaningNeed(now, math.MaxInt64); !need.Due {
		t.Fatalf("not due past max.compaction.lag.ms: %+v", need)
	}
	// Not compacted: never due.
	cfg.CleanupCompact = false
	l.SetConfig(cfg)
	if need, _ := l.CleaningNeed(now, math.MaxInt64); need.Due {
		t.Fatalf("due without compact: %+v", need)
	}
}

// TestCleanKeepsProducerState: a rewritten batch keeps its base offset,
// LastOffsetDelta, producer id, epoch, base sequence and codec; the
// last batch of an idempotent producer stays even when emptied.
func TestCleanKeepsProducerState(t *testing.T) {
	l := mustOpen(t, t.TempDir(), compactConfig())
	defer l.Close()
	idem := func(seq int32, recs []kv) []byte {
		b := record.NewBuilder(0, record.CodecZstd)
		b.ProducerID, b.ProducerEpoch, b.BaseSequence = 7, 3, seq
		for _, r := range recs {
			b.Add(1, []byte(r.key), []byte(*r.value))
		}
		out, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	mustAppend(t, l, idem(0, []kv{{key: "a", value: strp("1")}, {key: "b", value: strp("1")}, {key: "c", value: strp("1")}}), leader(0)) // 0..2
	mustAppend(t, l, idem(3, []kv{{key: "a", value: strp("2")}, {key: "b", value: strp("2")}}), leader(0))                               // 3..4
	mustAppend(t, l, keyedBatch(t, record.CodecNone, 1, []kv{{key: "a", value: strp("3")}, {key: "b", value: strp("3")}}), leader(0))    // 5..6
	roll(t, l)
	if _, err := l.Clean(context.Background(), time.Unix(0, 0), CleanOptions{UpTo: math.MaxInt64}); err != nil {
		t.Fatal(err)
	}
	b := readAll(t, l, 0)
	var hs []record.Header
	for len(b) > 0 {
		h, _ := record.ReadHeader(b)
		hs = append(hs, h)
		b = b[h.Size():]
	}
	if len(hs) != 3 {
		t.Fatalf("%d batches, want 3", len(hs))
	}
	first, empty := hs[0], hs[1]
	if first.BaseOffset != 0 || first.LastOffsetDelta != 2 || first.RecordCount != 1 || first.ProducerID != 7 ||
		first.ProducerEpoch != 3 || first.BaseSequence != 0 || first.Codec() != record.CodecZstd {
		t.Fatalf("rewritten batch: %+v", first)
	}
	if empty.BaseOffset != 3 || empty.LastOffsetDelta != 1 || empty.RecordCount != 0 || empty.ProducerID != 7 || empty.BaseSequence != 3 {
		t.Fatalf("the producer's emptied last batch: %+v", empty)
	}
	got := readRecords(t, l)
	if fmt.Sprint(got) != "[2:c=1 5:a=3 6:b=3]" {
		t.Fatalf("records %v", got)
	}
	// Once the producer writes again, its old empty batch goes.
	mustAppend(t, l, idem(5, []kv{{key: "d", value: strp("1")}}), leader(0))
	roll(t, l)
	if _, err := l.Clean(context.Background(), time.Unix(0, 0), CleanOptions{UpTo: math.MaxInt64}); err != nil {
		t.Fatal(err)
	}
	for b := readAll(t, l, 0); len(b) > 0; {
		h, _ := record.ReadHeader(b)
		if h.RecordCount == 0 {
			t.Fatalf("empty batch at %d kept after its producer wrote again", h.BaseOffset)
		}
		b = b[h.Size():]
	}
}

// crashAt makes a cleaning pass fail at its n-th step, as a crash would.
// group counts the groups the pass has reached.
type crashAt struct {
	n, seen, group int
	name           string
}

var errCrash = errors.New("injected crash")

func (c *crashAt) step(name string) error {
	if name == "cleaned" {
		c.group++
	}
	c.seen++
	if c.seen == c.n {
		c.name = name
		return errCrash
	}
	return nil
}

// stateRecorder records the log's records as each group of a pass
// begins its swap (the state after the previous group).
type stateRecorder struct {
	t      *testing.T
	l      *Log
	states []string
}

func (r *stateRecorder) step(name string) error {
	if name == "cleaned" {
		r.states = append(r.states, fmt.Sprint(readRecords(r.t, r.l)))
	}
	return nil
}

// crashLog builds the same log every time (for seed 9).
func crashLog(t *testing.T, dir string) *Log {
	l := mustOpen(t, dir, compactConfig())
	rng := rand.New(rand.NewPCG(9, 9))
	modelWrites(t, l, rng, 120, 30, map[string]kv{})
	if _, err := l.Clean(context.Background(), time.Unix(0, 0), CleanOptions{UpTo: math.MaxInt64}); err != nil {
		t.Fatal(err)
	}
	modelWrites(t, l, rng, 120, 30, map[string]kv{})
	roll(t, l)
	return l
}

// TestCleanCrash kills a cleaning pass at every step of every swap and
// reopens the directory: the log must be valid and equal to the log
// before the pass or after it, and further appends and passes work.
func TestCleanCrash(t *testing.T) {
	// The reference pass: states[g] is the log once g groups are
	// swapped in (each group swaps atomically, so a crash in group g
	// leaves states[g-1] or states[g]).
	ref := crashLog(t, t.TempDir())
	rec := &stateRecorder{t: t, l: ref}
	if _, err := ref.clean(context.Background(), time.Unix(10, 0), CleanOptions{UpTo: math.MaxInt64}, rec); err != nil {
		t.Fatal(err)
	}
	states := append(rec.states, fmt.Sprint(readRecords(t, ref)))
	ref.Close()
	if len(states) < 3 || states[0] == states[len(states)-1] {
		t.Fatalf("the pass has %d groups and changes nothing: %v", len(states)-1, states[0] == states[len(states)-1])
	}
	steps := map[string]bool{}
	for n := 1; ; n++ {
		dir := t.TempDir()
		l := crashLog(t, dir)
		hook := &crashAt{n: n}
		_, err := l.clean(context.Background(), time.Unix(10, 0), CleanOptions{UpTo: math.MaxInt64}, hook)
		if hook.name == "" {
			if err != nil {
				t.Fatal(err)
			}
			l.Close()
			break // the pass has fewer than n steps: all covered
		}
		if !errors.Is(err, errCrash) {
			t.Fatalf("step %d (%s): %v", n, hook.name, err)
		}
		steps[strings.TrimRight(hook.name, "0123456789")] = true
		// The crashed process is gone: reopen the directory as it is.
		os.Remove(filepath.Join(dir, cleanShutdownName))
		l2 := mustOpen(t, dir, compactConfig())
		got := readRecords(t, l2)
		before, after := states[hook.group-1], states[hook.group]
		if s := fmt.Sprint(got); s != before && s != after {
			t.Fatalf("crash at step %d (%s) of group %d: log is neither before nor after the swap:\n%s\nbefore %s\nafter %s", n, hook.name, hook.group, s, before, after)
		}
		names, _ := readDirNames(dir)
		for _, name := range names {
			if strings.HasSuffix(name, cleanedExt) || strings.HasSuffix(name, swapExt) {
				t.Fatalf("crash at step %d (%s): %s left behind", n, hook.name, name)
			}
		}
		mustAppend(t, l2, keyedBatch(t, record.CodecNone, 1, []kv{{key: "x", value: strp("y")}}), leader(0))
		roll(t, l2)
		if _, err := l2.Clean(context.Background(), time.Unix(20, 0), CleanOptions{UpTo: math.MaxInt64}); err != nil {
			t.Fatalf("crash at step %d (%s): clean after reopen: %v", n, hook.name, err)
		}
		readRecords(t, l2)
		l2.Close()
		l.Close()
	}
	for _, s := range []string{"cleaned", "swap", "unlink-", "renamed", "indexed"} {
		if !steps[s] {
			t.Errorf("step %s never crashed at (covered: %v)", s, steps)
		}
	}
}

// TestCleanConcurrent: appends and reads go on during cleaning passes. A
// reader always sees offsets strictly increasing and valid batches of
// records that were written; and reading up to an offset X, for every key
// it sees the last value written below X unless compaction removed that
// one for a later value at or beyond X (which a consumer reads next).
func TestCleanConcurrent(t *testing.T) {
	cfg := compactConfig()
	cfg.FileDeleteDelayMs = time.Hour
	l := mustOpen(t, t.TempDir(), cfg)
	defer l.Close()
	// mu is held across each append and its recording, so written
	// always holds every offset below the log end.
	var mu sync.Mutex
	var written []kv // index = offset
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // appender
		defer wg.Done()
		defer close(stop)
		rng := rand.New(rand.NewPCG(5, 5))
		for i := 0; i < 1500; i++ {
			r := kv{key: fmt.Sprintf("k%02d", rng.IntN(20)), value: strp(fmt.Sprint(i))}
			mu.Lock()
			res, err := l.Append(keyedBatch(t, record.CodecNone, int64(i), []kv{r}), leader(0))
			if err != nil {
				mu.Unlock()
				t.Error(err)
				return
			}
			r.offset = res.FirstOffset
			written = append(written, r)
			mu.Unlock()
		}
	}()
	wg.Add(1)
	go func() { // cleaner
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := l.Clean(context.Background(), time.Now(), CleanOptions{UpTo: math.MaxInt64}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	reads := 0
	for done := false; !done; reads++ {
		select {
		case <-stop:
			done = true
		default:
		}
		mu.Lock()
		end := int64(len(written))
		mu.Unlock()
		got := readRecordsUpTo(t, l, end)
		mu.Lock()
		all := slices.Clone(written)
		mu.Unlock()
		seen := map[string]kv{}
		for _, r := range got {
			if w := all[r.offset]; w.String() != r.String() {
				t.Fatalf("read %v, written %v", r, w)
			}
			seen[r.key] = r
		}
		lastBelow, later := map[string]int64{}, map[string]bool{}
		for _, w := range all {
			if w.offset < end {
				lastBelow[w.key] = w.offset
			} else {
				later[w.key] = true
			}
		}
		for k, o := range lastBelow {
			if seen[k].offset != o && !later[k] {
				t.Fatalf("read %d up to %d: key %s last seen at %d (%v), last written at %d, nothing later", reads, end, k, seen[k].offset, seen[k], o)
			}
		}
	}
	wg.Wait()
	if reads < 2 {
		t.Fatalf("only %d reads", reads)
	}
}

// readRecordsUpTo is readRecords bounded by end (a high watermark).
func readRecordsUpTo(t testing.TB, l *Log, end int64) []kv {
	t.Helper()
	var out []kv
	var it record.RecordIter
	last := int64(-1)
	for off := int64(0); off < end; {
		sl, err := l.Read(off, 1<<16, end)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		if sl.Size == 0 {
			break
		}
		b := sliceBytes(t, sl)
		for len(b) > 0 {
			h, err := record.Validate(b[:headerSizeOf(b)])
			if err != nil {
				t.Fatalf("Read(%d) served a bad batch: %v", off, err)
			}
			it.Reset(b[:h.Size()], 0)
			for r, ok := it.Next(); ok; r, ok = it.Next() {
				if r.Offset <= last {
					t.Fatalf("offset %d after %d", r.Offset, last)
				}
				last = r.Offset
				out = append(out, kv{offset: r.Offset, key: string(r.Key), value: strp(string(r.Value))})
			}
			off = h.NextOffset()
			b = b[h.Size():]
		}
	}
	return out
}
