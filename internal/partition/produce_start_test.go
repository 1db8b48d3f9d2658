package partition

import (
	"context"
	"testing"
)

// TestProduceStartPipelined writes a producer's next requests before the
// first one's Wait, as a connection's pipelined requests are handled: the
// high watermark stays below the writes until a Wait covers them, one
// Wait's fsync covers the earlier writes, and a retry answered as a
// duplicate before any Wait gets the original offsets.
func TestProduceStartPipelined(t *testing.T) {
	for _, acks := range []int16{1, -1} {
		p := openTest(t, t.TempDir(), testConfig())
		const pid = 7
		var pending []*PendingProduce
		for i := range 3 {
			w, err := p.ProduceStart(makeBatch(t, idem(pid, 0, int32(5*i), 5)), acks)
			if err != nil {
				t.Fatalf("acks %d: start %d: %v", acks, i, err)
			}
			pending = append(pending, w)
		}
		if got := p.LogEndOffset(); got != 15 {
			t.Fatalf("acks %d: log end %d after three starts, want 15", acks, got)
		}
		if got := p.HighWatermark(); got != 0 {
			t.Fatalf("acks %d: high watermark %d before any Wait, want 0", acks, got)
		}
		dup, err := p.ProduceStart(makeBatch(t, idem(pid, 0, 5, 5)), acks)
		if err != nil {
			t.Fatalf("acks %d: duplicate: %v", acks, err)
		}
		pending = append(pending, dup)

		// The last write's Wait first: its fsync covers all of them.
		ctx := context.Background()
		last, err := pending[2].Wait(ctx)
		if err != nil || last.BaseOffset != 10 {
			t.Fatalf("acks %d: wait of the third: %+v, %v", acks, last, err)
		}
		if got := p.HighWatermark(); got != 15 {
			t.Fatalf("acks %d: high watermark %d, want 15", acks, got)
		}
		for i, want := range []int64{0, 5, -1, 5} {
			if want < 0 {
				continue
			}
			res, err := pending[i].Wait(ctx)
			if err != nil || res.BaseOffset != want {
				t.Fatalf("acks %d: wait %d: %+v, %v; want offset %d", acks, i, res, err, want)
			}
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestProduceStartWaitAfterClose: a Wait that runs after Close succeeds
// only if Close made the data durable, which a clean Close does.
func TestProduceStartWaitAfterClose(t *testing.T) {
	p := openTest(t, t.TempDir(), testConfig())
	w, err := p.ProduceStart(makeBatch(t, plain(3)), 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if res, err := w.Wait(context.Background()); err != nil || res.BaseOffset != 0 {
		t.Fatalf("wait after a clean close: %+v, %v", res, err)
	}
}
