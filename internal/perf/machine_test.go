package perf

import (
	"context"
	"testing"
	"time"
)

func TestDiskGroupCommit(t *testing.T) {
	res, err := DiskGroupCommit(context.Background(), t.TempDir(), 1000, 100, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	// Every scheduled record is written and counted once, however the
	// fsyncs grouped them.
	if res.Records != 200 || res.Bytes != 200*100 || res.Latency.Count != 200 {
		t.Fatalf("records %d, bytes %d, latencies %d; want 200, 20000, 200", res.Records, res.Bytes, res.Latency.Count)
	}
	if res.Latency.Min <= 0 {
		t.Fatalf("latency min %v: a record is durable only after its arrival", res.Latency.Min)
	}
}

func TestDiskGroupCommitRefusesBadArguments(t *testing.T) {
	for _, tt := range []struct {
		rate float64
		size int
		d    time.Duration
	}{
		{0, 100, time.Second},
		{1000, 0, time.Second},
		{1000, 2 << 20, time.Second},
		{1000, 100, 0},
		{1000, 100, 2 * maxProbeDuration},
	} {
		if _, err := DiskGroupCommit(context.Background(), t.TempDir(), tt.rate, tt.size, tt.d); err == nil {
			t.Errorf("rate %v, size %d, time %v: no error", tt.rate, tt.size, tt.d)
		}
	}
}
