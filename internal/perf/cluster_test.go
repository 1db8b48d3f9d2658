package perf

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestWarmUpCounts checks that a peer which writes warm-up records
// reports the measured records only: the consumer reads past the warm-up
// records without counting them, and end to end ignores them. kfake
// stands in for the cluster (warming it up is harmless).
func TestWarmUpCounts(t *testing.T) {
	p, err := startKfake()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.stop() })
	p.warmUp = true
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	const n, size, parts = 300, 100, 3
	res, err := p.produce(ctx, produceSpec{topic: "warm", partitions: parts, size: size, records: n, acks: "all"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != n {
		t.Fatalf("produce: %+v", res)
	}
	if got := p.warmUps("warm"); got != parts {
		t.Fatalf("warm-up records %d, want %d", got, parts)
	}
	// prepare of an existing topic writes no more warm-up records.
	if err := p.prepare(ctx, "warm", parts); err != nil {
		t.Fatal(err)
	}
	res, err = p.consume(ctx, "warm", n)
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != n || res.Bytes != n*size {
		t.Fatalf("consume: %+v, want %d records of %d bytes", res, n, size)
	}
	o := DefaultE2EOptions()
	o.RecordSize, o.Records, o.Duration, o.Warmup, o.Rate = size, 50, 0, 10, 2000
	res, err = p.e2e(ctx, "warm-e2e", o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != 50 || res.Latency.Count != 50 {
		t.Fatalf("e2e: %+v", res)
	}
	if err := p.drop(ctx, "warm"); err != nil {
		t.Fatal(err)
	}
	if got := p.warmUps("warm"); got != 0 {
		t.Fatalf("warm-up records of a dropped topic: %d", got)
	}
}

// TestCompareCluster3 runs Compare with the 3-node cluster peer at a tiny
// scale. It needs a gregor binary (building one here would take most of
// a minute on the project's machines): set GREGOR_PERF_BINARY to its path,
// e.g. after `go build -o /some/dir/gregor ./cmd/gregor`.
func TestCompareCluster3(t *testing.T) {
	bin := os.Getenv("GREGOR_PERF_BINARY")
	if bin == "" {
		t.Skip("set GREGOR_PERF_BINARY to a gregor binary to run the cluster peer")
	}
	o := CompareOptions{
		GregorBinary: bin,
		Peers:        []string{PeerGregorPageCache, PeerGregorCluster3},
		Kinds:        []string{KindProduce, KindConsume, KindE2E},
		Records:      500,
		RecordSizes:  []int{1024},
		Partitions:   []int{2},
		E2EDuration:  100 * time.Millisecond,
		WorkDir:      t.TempDir(),
		Command:      "smoke",
	}
	var progress, out bytes.Buffer
	o.Progress = &progress
	if err := Compare(t.Context(), o, &out); err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	report := out.String()
	for _, want := range []string{
		"| 1 KiB, acks=all, 2 partitions | ", "Gregor 3 nodes rf=3 ÷ Gregor page cache",
		"produce 1 KiB, acks=all, 2 partitions: Gregor 3 nodes rf=3 (min.insync.replicas=2) ≥ 0.50× single node page cache",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(report)
	}
}
