package perf

import (
	"context"
	"errors"
	"testing"
	"time"
)

// startTestNATS starts nats-server for a test, or skips the test when it
// is not installed.
func startTestNATS(t *testing.T) *natsPeer {
	t.Helper()
	bin, err := findNATS("")
	if errors.Is(err, ErrNATSMissing) {
		t.Skip("nats-server not installed")
	}
	if err != nil {
		t.Fatal(err)
	}
	srv, err := startNATS(t.Context(), bin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Error(err)
		}
	})
	return &natsPeer{srv: srv}
}

func TestNATSProduceConsumeE2E(t *testing.T) {
	p := startTestNATS(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	const n = 300
	res, err := p.produce(ctx, produceSpec{topic: "smoke", partitions: 4, size: 100, records: n, acks: "all"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != n || res.Bytes != n*100 || res.Latency.Count != n {
		t.Fatalf("produce: %+v", res)
	}
	t.Log("produce:", res)
	res, err = p.consume(ctx, "smoke", n)
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != n || res.Bytes != n*100 {
		t.Fatalf("consume: %+v", res)
	}
	t.Log("consume:", res)
	if err := p.drop(ctx, "smoke"); err != nil {
		t.Fatal(err)
	}

	o := DefaultE2EOptions()
	o.Rate, o.Records, o.Duration, o.Warmup, o.RecordSize = 2000, 200, 0, 20, 64
	res, err = p.e2e(ctx, "e2e", o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != 200 || res.Latency.Count != 200 {
		t.Fatalf("e2e: %+v", res)
	}
	t.Log("e2e:", res)
}
