package perf

import (
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestPartitionsOptionsValidate(t *testing.T) {
	good := DefaultPartitionsOptions()
	good.GregorBinary = "gregor"
	for _, tc := range []struct {
		name string
		edit func(*PartitionsOptions)
		ok   bool
	}{
		{"defaults", func(*PartitionsOptions) {}, true},
		{"no binary", func(o *PartitionsOptions) { o.GregorBinary = "" }, false},
		{"no topics", func(o *PartitionsOptions) { o.Topics = 0 }, false},
		{"too many partitions", func(o *PartitionsOptions) { o.Topics, o.PartitionsPerTopic = 1000, 1000 }, false},
		{"negative records", func(o *PartitionsOptions) { o.RecordsPerPartition = -1 }, false},
		{"no ready timeout", func(o *PartitionsOptions) { o.ReadyTimeout = 0 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := good
			tc.edit(&o)
			err := o.Validate()
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalidOptions)) {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestProcMemoryAndCPU(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	rss, hwm, err := procMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if rss <= 0 || hwm < rss {
		t.Fatalf("rss %d, hwm %d", rss, hwm)
	}
	if cpu := procCPU(os.Getpid()); cpu < 0 {
		t.Fatalf("cpu %v", cpu)
	}
}

// TestPartitionsSmoke runs Partitions at a tiny scale; like
// TestCompareCluster3 it needs GREGOR_PERF_BINARY.
func TestPartitionsSmoke(t *testing.T) {
	bin := os.Getenv("GREGOR_PERF_BINARY")
	if bin == "" {
		t.Skip("set GREGOR_PERF_BINARY to a gregor binary to run Partitions")
	}
	o := DefaultPartitionsOptions()
	o.GregorBinary, o.WorkDir = bin, t.TempDir()
	o.Topics, o.PartitionsPerTopic, o.Idle = 3, 4, 10*time.Millisecond
	res, err := Partitions(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Partitions != 12 || res.Clean.Ready <= 0 || res.Kill.Ready <= 0 || res.Clean.RSS <= 0 || res.Kill.RSS <= 0 {
		t.Fatalf("%+v", res)
	}
	if s := res.String(); !strings.Contains(s, "restart after kill -9") {
		t.Fatalf("summary: %s", s)
	}
}
