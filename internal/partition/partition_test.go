package partition

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/record"
	"github.com/gregor-log/gregor/internal/storage"
)

func testConfig() Config {
	return Config{
		Storage: storage.Config{
			SegmentBytes:       1 << 20,
			SegmentIndexBytes:  1 << 16,
			IndexIntervalBytes: 4096,
			FlushMessages:      1,
		},
		MaxMessageBytes: 1 << 20,
	}
}

func openTest(t testing.TB, dir string, cfg Config) *Partition {
	t.Helper()
	p, err := Open(dir, "t", 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// batchSpec describes a batch for makeBatch.
type batchSpec struct {
	records  int
	pid      int64 // -1: not idempotent
	epoch    int16
	seq      int32
	codec    record.Codec
	value    []byte
	nullKey  bool
	txn      bool
	control  bool
	tsOffset int64
}

func plain(n int) batchSpec { return batchSpec{records: n, pid: -1, epoch: -1, seq: -1} }

func idem(pid int64, epoch int16, seq int32, n int) batchSpec {
	return batchSpec{records: n, pid: pid, epoch: epoch, seq: seq}
}

func makeBatch(t testing.TB, s batchSpec) []byte {
	t.Helper()
	b := record.NewBuilder(0, s.codec)
	b.ProducerID, b.ProducerEpoch, b.BaseSequence = s.pid, s.epoch, s.seq
	b.Transactional, b.Control = s.txn, s.control
	for i := range s.records {
		var key []byte
		if !s.nullKey {
			key = fmt.Appendf(nil, "k%d", i)
		}
		v := s.value
		if v == nil {
			v = fmt.Appendf(nil, "value %d", i)
		}
		b.Add(1700000000000+s.tsOffset+int64(i), key, v)
	}
	out, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func produce(t testing.TB, p *Partition, acks int16, batches ...[]byte) (ProduceResult, error) {
	t.Helper()
	return p.Produce(context.Background(), bytes.Join(batches, nil), acks)
}

func mustProduce(t testing.TB, p *Partition, batches ...[]byte) ProduceResult {
	t.Helper()
	res, err := produce(t, p, -1, batches...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// readAll returns the bytes of every batch below the high watermark.
func readAll(t testing.TB, p *Partition) []byte {
	t.Helper()
	var out []byte
	for off := p.LogStartOffset(); off < p.HighWatermark(); {
		s, err := p.Read(off, 1<<20, p.HighWatermark())
		if err != nil {
			t.Fatal(err)
		}
		if s.Size == 0 {
			break
		}
		buf := make([]byte, s.Size)
		if _, err := s.File.ReadAt(buf, s.Pos); err != nil && !errors.Is(err, io.EOF) {
			t.Fatal(err)
		}
		out = append(out, buf...)
		for rest := buf; len(rest) > 0; {
			h, err := record.ReadHeader(rest)
			if err != nil {
				t.Fatal(err)
			}
			off = h.NextOffset()
			rest = rest[h.Size():]
		}
	}
	return out
}

func TestProduceAppendsAndMovesHighWatermark(t *testing.T) {
	p := openTest(t, t.TempDir(), testConfig())
	defer p.Close()
	for i, acks := range []int16{1, -1, 0} {
		res, err := produce(t, p, acks, makeBatch(t, plain(10)))
		if err != nil {
			t.Fatalf("acks=%d: %v", acks, err)
		}
		if want := int64(i * 10); res.BaseOffset != want {
			t.Fatalf("acks=%d: base offset %d, want %d", acks, res.BaseOffset, want)
		}
		if res.LogAppendTime != -1 || res.LogStartOffset != 0 {
			t.Fatalf("acks=%d: result %+v", acks, res)
		}
	}
	if hw, leo := p.HighWatermark(), p.LogEndOffset(); hw != 30 || leo != 30 {
		t.Fatalf("high watermark %d, log end %d; want 30, 30", hw, leo)
	}
	// Several batches in one request get consecutive offsets.
	res := mustProduce(t, p, makeBatch(t, plain(2)), makeBatch(t, plain(3)))
	if res.BaseOffset != 30 || p.HighWatermark() != 35 {
		t.Fatalf("two batches: base %d, high watermark %d", res.BaseOffset, p.HighWatermark())
	}
	if got := len(readAll(t, p)); got == 0 {
		t.Fatal("nothing readable below the high watermark")
	}
}

func TestProduceRefusesBadBatchesAndLeavesLogUntouched(t *testing.T) {
	cfg := testConfig()
	cfg.MaxMessageBytes = 4096
	good := makeBatch(t, plain(3))
	corrupt := bytes.Clone(good)
	corrupt[len(corrupt)-1] ^= 0xff
	magic1 := bytes.Clone(good)
	magic1[16] = 1
	offsetGap := makeBatch(t, plain(3))
	offsetGap[record.HeaderSize-4+3] = 2 // recordCount 2, lastOffsetDelta 2
	offsetGap[17], offsetGap[18], offsetGap[19], offsetGap[20] = 0, 0, 0, 0
	putCRC(offsetGap)

	tests := []struct {
		name    string
		cfg     Config
		batches [][]byte
		want    error
	}{
		{"bad CRC", cfg, [][]byte{corrupt}, record.ErrCorrupt},
		{"bad CRC in the second batch", cfg, [][]byte{good, corrupt}, record.ErrCorrupt},
		{"truncated", cfg, [][]byte{good[:len(good)-3]}, record.ErrCorrupt},
		{"magic 1", cfg, [][]byte{magic1}, ErrInvalidRecord},
		{"record count disagrees with offsets", cfg, [][]byte{offsetGap}, ErrInvalidRecord},
		{"too large", cfg, [][]byte{makeBatch(t, batchSpec{records: 10, pid: -1, epoch: -1, seq: -1, value: make([]byte, 1000)})}, ErrMessageTooLarge},
		{"transactional", cfg, [][]byte{makeBatch(t, batchSpec{records: 1, pid: 5, epoch: 0, seq: 0, txn: true})}, ErrTransactionsDisabled},
		{"control batch from a client", cfg, [][]byte{makeBatch(t, batchSpec{records: 1, pid: -1, epoch: -1, seq: -1, control: true})}, ErrInvalidRecord},
		{"idempotent batch without a sequence", cfg, [][]byte{makeBatch(t, idem(5, 0, -1, 1))}, ErrInvalidRecord},
		{"null key on a compacted topic", Config{Storage: cfg.Storage, Compacted: true}, [][]byte{makeBatch(t, batchSpec{records: 2, pid: -1, epoch: -1, seq: -1, nullKey: true})}, ErrInvalidRecord},
		{"empty request", cfg, nil, ErrInvalidRecord},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := openTest(t, t.TempDir(), tt.cfg)
			defer p.Close()
			_, err := produce(t, p, -1, tt.batches...)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if leo, hw := p.LogEndOffset(), p.HighWatermark(); leo != 0 || hw != 0 {
				t.Fatalf("log end %d, high watermark %d after a refused produce", leo, hw)
			}
		})
	}
}

func putCRC(b []byte) {
	c := record.ComputeCRC(b)
	b[17], b[18], b[19], b[20] = byte(c>>24), byte(c>>16), byte(c>>8), byte(c)
}

func TestProduceTimestampLimits(t *testing.T) {
	cfg := testConfig()
	cfg.MessageTimestampBeforeMaxMs = 60_000
	cfg.MessageTimestampAfterMaxMs = 60_000
	p := openTest(t, t.TempDir(), cfg)
	defer p.Close()
	now := time.UnixMilli(1700000000000 + 5) // the batches' timestamps
	p.now = func() time.Time { return now }
	mustProduce(t, p, makeBatch(t, plain(3)))
	for name, shift := range map[string]int64{"too old": -3_600_000, "too new": 3_600_000} {
		spec := plain(3)
		spec.tsOffset = shift
		if _, err := produce(t, p, 1, makeBatch(t, spec)); !errors.Is(err, ErrInvalidTimestamp) {
			t.Fatalf("%s: err = %v, want ErrInvalidTimestamp", name, err)
		}
	}
}

func TestProduceCompactedRecordError(t *testing.T) {
	cfg := testConfig()
	cfg.Compacted = true
	p := openTest(t, t.TempDir(), cfg)
	defer p.Close()
	mustProduce(t, p, makeBatch(t, plain(2)))
	_, err := produce(t, p, 1, makeBatch(t, batchSpec{records: 2, pid: -1, epoch: -1, seq: -1, nullKey: true}))
	var re *RecordError
	if !errors.As(err, &re) || re.Index != 0 {
		t.Fatalf("err = %v, want a RecordError for record 0", err)
	}
}

func TestProduceLogAppendTime(t *testing.T) {
	cfg := testConfig()
	cfg.LogAppendTime = true
	p := openTest(t, t.TempDir(), cfg)
	defer p.Close()
	now := time.UnixMilli(1800000000000)
	p.now = func() time.Time { return now }
	res := mustProduce(t, p, makeBatch(t, plain(3)))
	if res.LogAppendTime != now.UnixMilli() {
		t.Fatalf("LogAppendTime %d, want %d", res.LogAppendTime, now.UnixMilli())
	}
	h, err := record.Validate(readAll(t, p))
	if err != nil {
		t.Fatal(err)
	}
	if !h.LogAppendTime() || h.MaxTimestamp != now.UnixMilli() {
		t.Fatalf("stored batch: LogAppendTime %v, max timestamp %d", h.LogAppendTime(), h.MaxTimestamp)
	}
}

func TestProduceCodecs(t *testing.T) {
	p := openTest(t, t.TempDir(), testConfig())
	defer p.Close()
	for _, c := range []record.Codec{record.CodecNone, record.CodecGzip, record.CodecSnappy, record.CodecLZ4, record.CodecZstd} {
		if _, err := produce(t, p, 1, makeBatch(t, batchSpec{records: 20, pid: -1, epoch: -1, seq: -1, codec: c})); err != nil {
			t.Fatalf("%v: %v", c, err)
		}
	}
	if p.HighWatermark() != 100 {
		t.Fatalf("high watermark %d, want 100", p.HighWatermark())
	}
}

func TestIdempotentProduce(t *testing.T) {
	p := openTest(t, t.TempDir(), testConfig())
	defer p.Close()
	const pid = 1000
	first := mustProduce(t, p, makeBatch(t, idem(pid, 0, 0, 5)))
	second := mustProduce(t, p, makeBatch(t, idem(pid, 0, 5, 5)))

	// A retry of either is answered with its original offset, unwritten.
	for _, tt := range []struct {
		seq  int32
		want int64
	}{{0, first.BaseOffset}, {5, second.BaseOffset}} {
		res := mustProduce(t, p, makeBatch(t, idem(pid, 0, tt.seq, 5)))
		if res.BaseOffset != tt.want {
			t.Fatalf("retry of sequence %d: offset %d, want %d", tt.seq, res.BaseOffset, tt.want)
		}
	}
	if p.LogEndOffset() != 10 {
		t.Fatalf("log end %d after retries, want 10", p.LogEndOffset())
	}
	// A gap is refused.
	if _, err := produce(t, p, 1, makeBatch(t, idem(pid, 0, 11, 5))); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("gap: err = %v", err)
	}
	// A new epoch must start at 0, then fences the old one.
	if _, err := produce(t, p, 1, makeBatch(t, idem(pid, 1, 10, 5))); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("new epoch at 10: err = %v", err)
	}
	mustProduce(t, p, makeBatch(t, idem(pid, 1, 0, 5)))
	if _, err := produce(t, p, 1, makeBatch(t, idem(pid, 0, 10, 5))); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("old epoch: err = %v", err)
	}
	// A producer the partition never saw is accepted at any sequence (KIP-360).
	mustProduce(t, p, makeBatch(t, idem(pid+1, 3, 77, 1)))
	if p.LogEndOffset() != 16 {
		t.Fatalf("log end %d, want 16", p.LogEndOffset())
	}
}

func TestIdempotentRequestWithRetriedAndNewBatches(t *testing.T) {
	p := openTest(t, t.TempDir(), testConfig())
	defer p.Close()
	a, b := makeBatch(t, idem(7, 0, 0, 2)), makeBatch(t, idem(7, 0, 2, 3))
	mustProduce(t, p, a)
	// The request is a retry of a request whose first batch made it to the
	// log before a crash: only the second is written.
	res := mustProduce(t, p, makeBatch(t, idem(7, 0, 0, 2)), b)
	if res.BaseOffset != 0 || p.LogEndOffset() != 5 {
		t.Fatalf("base %d, log end %d; want 0, 5", res.BaseOffset, p.LogEndOffset())
	}
}

func TestProducerStateSurvivesRestart(t *testing.T) {
	for _, clean := range []bool{true, false} {
		t.Run(fmt.Sprintf("clean=%v", clean), func(t *testing.T) {
			dir := t.TempDir()
			p := openTest(t, dir, testConfig())
			mustProduce(t, p, makeBatch(t, idem(42, 2, 0, 4)))
			mustProduce(t, p, makeBatch(t, plain(3)))
			mustProduce(t, p, makeBatch(t, idem(42, 2, 4, 4)))
			if clean {
				if err := p.Close(); err != nil {
					t.Fatal(err)
				}
				if _, err := os.Stat(filepath.Join(dir, snapshotName(11))); err != nil {
					t.Fatalf("no snapshot after a clean close: %v", err)
				}
			} else {
				// Unclean: no snapshot; the state comes from scanning the log.
				if err := p.Log.Close(); err != nil {
					t.Fatal(err)
				}
			}
			p = openTest(t, dir, testConfig())
			defer p.Close()
			if p.HighWatermark() != 11 {
				t.Fatalf("high watermark %d after reopen, want 11", p.HighWatermark())
			}
			res := mustProduce(t, p, makeBatch(t, idem(42, 2, 4, 4)))
			if res.BaseOffset != 7 || p.LogEndOffset() != 11 {
				t.Fatalf("retry after restart: base %d, log end %d; want 7, 11", res.BaseOffset, p.LogEndOffset())
			}
			if _, err := produce(t, p, 1, makeBatch(t, idem(42, 2, 9, 1))); !errors.Is(err, ErrOutOfOrderSequence) {
				t.Fatalf("gap after restart: err = %v", err)
			}
			if _, err := produce(t, p, 1, makeBatch(t, idem(42, 1, 0, 1))); !errors.Is(err, ErrInvalidProducerEpoch) {
				t.Fatalf("fenced epoch after restart: err = %v", err)
			}
			mustProduce(t, p, makeBatch(t, idem(42, 2, 8, 1)))
		})
	}
}

func TestSnapshotPlusTailScan(t *testing.T) {
	dir := t.TempDir()
	p := openTest(t, dir, testConfig())
	mustProduce(t, p, makeBatch(t, idem(1, 0, 0, 2)))
	p.appendMu.Lock()
	if err := p.writeSnapshotLocked(p.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	p.appendMu.Unlock()
	mustProduce(t, p, makeBatch(t, idem(2, 0, 0, 2))) // only in the tail after the snapshot
	mustProduce(t, p, makeBatch(t, idem(1, 0, 2, 2)))
	if err := p.Log.Close(); err != nil { // crash: no snapshot at close
		t.Fatal(err)
	}
	p = openTest(t, dir, testConfig())
	defer p.Close()
	for _, tt := range []struct {
		pid  int64
		seq  int32
		want int64
	}{{1, 0, 0}, {2, 0, 2}, {1, 2, 4}} {
		if res := mustProduce(t, p, makeBatch(t, idem(tt.pid, 0, tt.seq, 2))); res.BaseOffset != tt.want {
			t.Fatalf("producer %d seq %d: offset %d, want %d", tt.pid, tt.seq, res.BaseOffset, tt.want)
		}
	}
	if p.LogEndOffset() != 6 {
		t.Fatalf("log end %d, want 6", p.LogEndOffset())
	}
}

// TestSnapshotEverySegmentsWorth: a running partition leaves snapshots as
// it appends, so a crash never costs a scan of more than about a segment.
func TestSnapshotEverySegmentsWorth(t *testing.T) {
	dir := t.TempDir()
	p := openTest(t, dir, testConfig()) // 1 MiB segments
	defer p.Close()
	spec := idem(5, 0, 0, 300)
	spec.value = make([]byte, 1024)
	for i := range 8 { // about 2.4 MiB
		spec.seq = int32(i * 300)
		mustProduce(t, p, makeBatch(t, spec))
	}
	offsets, err := listSnapshots(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(offsets) == 0 || len(offsets) > snapshotsKept {
		t.Fatalf("snapshots at %v, want 1..%d of them", offsets, snapshotsKept)
	}
	tab, err := readSnapshot(dir, offsets[len(offsets)-1], p.producers)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tab.entries[5]; !ok {
		t.Fatal("the snapshot does not know the producer")
	}
}

func TestWaitersAreSignalled(t *testing.T) {
	p := openTest(t, t.TempDir(), testConfig())
	w := NewWaiter()
	p.Watch(w)
	mustProduce(t, p, makeBatch(t, plain(1)))
	select {
	case <-w.C:
	case <-time.After(10 * time.Second):
		t.Fatal("append did not signal the waiter")
	}
	p.Unwatch(w)
	mustProduce(t, p, makeBatch(t, plain(1)))
	select {
	case <-w.C:
		t.Fatal("signalled after Unwatch")
	default:
	}
	w2 := NewWaiter()
	p.Watch(w2)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w2.C:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not wake the waiter")
	}
	w3 := NewWaiter()
	p.Watch(w3) // after Close: signalled at once
	select {
	case <-w3.C:
	default:
		t.Fatal("Watch on a closed partition did not signal")
	}
	if _, err := produce(t, p, 1, makeBatch(t, plain(1))); !errors.Is(err, ErrClosed) {
		t.Fatalf("produce after close: err = %v", err)
	}
}

func TestAcksAllWaitsForHighWatermark(t *testing.T) {
	p := openTest(t, t.TempDir(), testConfig())
	defer p.Close()
	mustProduce(t, p, makeBatch(t, plain(1)))
	// Pretend a follower has not caught up (replication moves the high
	// watermark; here the test does): acks=all parks until it moves.
	p.highWatermark.Store(0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.waitHighWatermark(ctx, 1) }()
	p.advanceHighWatermark(1)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	p.highWatermark.Store(0)
	go func() { done <- p.waitHighWatermark(ctx, 1) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	p.advanceHighWatermark(1)
}

func TestDeleteRecordsBefore(t *testing.T) {
	p := openTest(t, t.TempDir(), testConfig())
	defer p.Close()
	mustProduce(t, p, makeBatch(t, idem(9, 0, 0, 5)))
	mustProduce(t, p, makeBatch(t, plain(5)))
	if _, err := p.DeleteRecordsBefore(11); !errors.Is(err, storage.ErrOffsetOutOfRange) {
		t.Fatalf("beyond the high watermark: err = %v", err)
	}
	lso, err := p.DeleteRecordsBefore(-1)
	if err != nil {
		t.Fatal(err)
	}
	if lso != 10 || p.LogStartOffset() != 10 {
		t.Fatalf("log start %d (returned %d), want 10", p.LogStartOffset(), lso)
	}
	// The producer's data is gone, so it is unknown again: any sequence goes.
	mustProduce(t, p, makeBatch(t, idem(9, 0, 50, 1)))
}

func TestConcurrentIdempotentRetries(t *testing.T) {
	p := openTest(t, t.TempDir(), testConfig())
	defer p.Close()
	const pid, rounds = 77, 20
	for seq := int32(0); seq < rounds*3; seq += 3 {
		var wg sync.WaitGroup
		offsets := make([]int64, 4)
		for i := range offsets {
			wg.Go(func() {
				res, err := produce(t, p, 1, makeBatch(t, idem(pid, 0, seq, 3)))
				if err != nil {
					t.Error(err)
				}
				offsets[i] = res.BaseOffset
			})
		}
		wg.Wait()
		for _, o := range offsets {
			if o != offsets[0] {
				t.Fatalf("concurrent retries got offsets %v", offsets)
			}
		}
	}
	if p.LogEndOffset() != rounds*3 {
		t.Fatalf("log end %d, want %d: a retry was written twice", p.LogEndOffset(), rounds*3)
	}
}

// FuzzProduce feeds arbitrary bytes to Produce as a records field: nothing
// may panic, a refused request leaves the log untouched, and an accepted one
// moves the log end by exactly the records the batches declare.
func FuzzProduce(f *testing.F) {
	good := makeBatch(f, plain(3))
	f.Add(good)
	f.Add(bytes.Join([][]byte{good, makeBatch(f, idem(3, 0, 0, 2))}, nil))
	f.Add(makeBatch(f, batchSpec{records: 4, pid: -1, epoch: -1, seq: -1, codec: record.CodecZstd}))
	f.Add(good[:40])
	f.Add([]byte{})
	p := openTest(f, f.TempDir(), testConfig())
	f.Cleanup(func() { p.Close() })
	f.Fuzz(func(t *testing.T, b []byte) {
		before := p.LogEndOffset()
		var declared int64
		for rest := b; len(rest) > 0; {
			h, err := record.ReadHeader(rest)
			if err != nil || h.Size() > len(rest) {
				break
			}
			declared += int64(h.LastOffsetDelta) + 1
			rest = rest[h.Size():]
		}
		_, err := p.Produce(context.Background(), bytes.Clone(b), 1)
		after := p.LogEndOffset()
		switch {
		case err != nil && after != before:
			t.Fatalf("refused (%v) but the log end moved %d -> %d", err, before, after)
		case err == nil && after-before > declared:
			t.Fatalf("accepted; log end moved by %d, batches declare %d records", after-before, declared)
		}
	})
}

// TestConcurrentProducers: producers appending at the same time (their
// storage appends overlap) all keep exact state: every batch lands once, and
// a retry of any producer's last batch is answered with its offset.
func TestConcurrentProducers(t *testing.T) {
	p := openTest(t, t.TempDir(), testConfig())
	defer p.Close()
	const producers, batches = 6, 15
	last := make([]int64, producers)
	var wg sync.WaitGroup
	for pid := range producers {
		wg.Go(func() {
			for i := range batches {
				res, err := produce(t, p, -1, makeBatch(t, idem(int64(pid), 0, int32(i*2), 2)))
				if err != nil {
					t.Error(err)
					return
				}
				last[pid] = res.BaseOffset
			}
		})
	}
	// Plain producers too: they never wait for the idempotent ones.
	for range 2 {
		wg.Go(func() {
			for range batches {
				if _, err := produce(t, p, 1, makeBatch(t, plain(2))); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if want := int64((producers + 2) * batches * 2); p.LogEndOffset() != want || p.HighWatermark() != want {
		t.Fatalf("log end %d, high watermark %d; want %d", p.LogEndOffset(), p.HighWatermark(), want)
	}
	for pid := range producers {
		res := mustProduce(t, p, makeBatch(t, idem(int64(pid), 0, int32((batches-1)*2), 2)))
		if res.BaseOffset != last[pid] {
			t.Fatalf("producer %d: retry answered %d, original offset %d", pid, res.BaseOffset, last[pid])
		}
	}
}

// Retention that moves the log start past a producer's last batch forgets
// the producer, as DeleteRecords does; a producer idle past
// producer.id.expiration.ms is forgotten by the same pass even when no
// segment goes.
func TestApplyRetentionForgetsProducers(t *testing.T) {
	cfg := testConfig()
	cfg.Storage.SegmentBytes = 1024 // a few batches per segment
	cfg.Storage.CleanupDelete = true
	cfg.Storage.RetentionMs = -1
	cfg.Storage.RetentionBytes = -1
	cfg.ProducerIDExpirationMs = time.Hour.Milliseconds()
	p := openTest(t, t.TempDir(), cfg)
	defer p.Close()
	clock := time.Unix(1_700_000_000, 0)
	p.now = func() time.Time { return clock }

	const old, idle = 9, 10
	mustProduce(t, p, makeBatch(t, idem(old, 0, 0, 5)))
	for range 40 { // several segments' worth
		mustProduce(t, p, makeBatch(t, plain(5)))
	}
	mustProduce(t, p, makeBatch(t, idem(idle, 0, 0, 5)))

	// Keep only the newest bytes: the old producer's segment goes.
	cfg.Storage.RetentionBytes = 1500
	p.SetConfig(cfg)
	n, err := p.ApplyRetention(clock)
	if err != nil || n == 0 {
		t.Fatalf("retention: %d segments, err %v", n, err)
	}
	// Unknown again, so any sequence is accepted (KIP-360)...
	mustProduce(t, p, makeBatch(t, idem(old, 0, 50, 1)))
	// ...while the producer above the new start is still checked.
	if _, err := produce(t, p, 1, makeBatch(t, idem(idle, 0, 50, 1))); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("producer above the log start: err = %v, want out of order", err)
	}

	// An hour later, with nothing left to delete, the idle producer
	// expires in the same pass.
	clock = clock.Add(time.Hour)
	if _, err := p.ApplyRetention(clock); err != nil {
		t.Fatal(err)
	}
	p.appendMu.Lock()
	_, known := p.producers.entries[idle]
	p.appendMu.Unlock()
	if known {
		t.Fatal("producer idle past producer.id.expiration.ms still in the table")
	}
}
