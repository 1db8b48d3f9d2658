package perf

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	rs := func(recs ...int64) []Result {
		var out []Result
		for _, n := range recs {
			out = append(out, Result{Records: n, Elapsed: time.Second})
		}
		return out
	}
	for _, tc := range []struct {
		in   []Result
		want float64
	}{
		{rs(), 0},
		{rs(5), 5},
		{rs(9, 1, 5), 5},
		{rs(1, 100, 3, 2), 2.5},
		{rs(7, 7, 1000000, 1), 7},
	} {
		if got := median(tc.in, Result.RecordsPerSec); got != tc.want {
			t.Errorf("median of %d results = %v, want %v", len(tc.in), got, tc.want)
		}
	}
}

func TestWorkloadName(t *testing.T) {
	for _, tc := range []struct {
		size  int
		acks  string
		parts int32
		want  string
	}{
		{1024, "all", 1, "1 KiB, acks=all, 1 partition"},
		{100, "1", 16, "100 B, acks=1, 16 partitions"},
		{1 << 20, "", 4, "1 MiB, 4 partitions"},
		{1500, "all", 2, "1500 B, acks=all, 2 partitions"},
	} {
		if got := workloadName(tc.size, tc.acks, tc.parts); got != tc.want {
			t.Errorf("workloadName(%d, %q, %d) = %q, want %q", tc.size, tc.acks, tc.parts, got, tc.want)
		}
	}
}

// TestReportTables fills a report with made-up runs and checks the
// medians, ratios, target verdicts, and that every table carries the
// command.
func TestReportTables(t *testing.T) {
	o := DefaultCompareOptions()
	o.Partitions = []int{1}
	o.RecordSizes = []int{1024}
	o.Command = "gregor-bench-peers --test"
	r := newReport(o.withDefaults())
	r.peers = []string{PeerGregorPageCache, PeerGregorDurable, PeerNATS, PeerKfake}
	run := func(recsPerSec int64, p99 time.Duration) Result {
		return Result{Records: recsPerSec, Bytes: recsPerSec * 1024, Elapsed: time.Second, Latency: Summary{Count: 1, P50: p99 / 2, P99: p99, P999: p99, Max: p99}}
	}
	produce := workloadName(1024, "all", 1)
	for i, n := range []int64{300, 200, 100} { // median 200 whatever the order
		r.add(KindProduce, produce, PeerGregorPageCache, run(n*1000, time.Millisecond))
		r.add(KindProduce, produce, PeerGregorDurable, run(160_000, time.Millisecond))
		r.add(KindProduce, produce, PeerNATS, run(100_000+int64(i), time.Millisecond))
		r.add(KindProduce, produce, PeerKfake, run(250_000, time.Millisecond))
	}
	consume := workloadName(1024, "", 1)
	for range 3 {
		r.add(KindConsume, consume, PeerGregorPageCache, run(600_000, 0))
		r.add(KindConsume, consume, PeerKfake, run(300_000, 0))
		r.addMachine(loopbackProbe, Result{Records: 1000, Bytes: 1000 * mib, Elapsed: time.Second})
	}
	e2e := workloadName(1024, "all", 1)
	for range 3 {
		r.add(KindE2E, e2e, PeerGregorPageCache, run(1000, 1500*time.Microsecond))
		r.add(KindE2E, e2e, PeerGregorDurable, run(1000, 9*time.Millisecond))
	}
	var b bytes.Buffer
	if err := r.write(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"| 1 KiB, acks=all, 1 partition | 195.3 MB/s (200.0k rec/s) | 156.2 MB/s (160.0k rec/s) | 97.7 MB/s (100.0k rec/s) | 244.1 MB/s (250.0k rec/s) | 2.00× | 0.80× | 1.60× | 0.64× | 0.80× |",
		"| 1 KiB, 1 partition | 585.9 MB/s (600.0k rec/s) | – | – | 293.0 MB/s (300.0k rec/s) | – | 2.00× | – | – | – | 59% |",
		"| produce 1 KiB, acks=all, 1 partition: Gregor page cache ≥ 1.5× NATS JetStream | 2.00× | met |",
		"| produce 1 KiB, acks=all, 1 partition: Gregor page cache ≥ 1.0× kfake | 0.80× | not met |",
		"| produce 1 KiB, acks=all, 1 partition: Gregor durable within 30% of page cache | durable 80% of page cache | met |",
		"| consume 1 KiB, 1 partition: Gregor ≥ 1.5× kfake | 2.00× | met |",
		"| consume 1 KiB, 1 partition: Gregor ≥ 40% of loopback TCP | 59% (586 of 1000 MB/s) | met |",
		"Gregor page cache p99 ≤ 2 ms | p99 1.50 ms | met |",
		"Gregor durable p99 ≤ 2 ms | p99 9.00 ms | not met |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(out)
	}
	// Every table is preceded by its command.
	tables := strings.Count(out, "\n| workload |") + strings.Count(out, "\n| probe |") + strings.Count(out, "\n| target |")
	sectionCommands := strings.Count(out, "Command: `gregor-bench-peers --test`") - 1 // the first heads the report
	headings := strings.Count(out, "\n## ")
	if sectionCommands != headings || tables < headings {
		t.Errorf("%d sections, %d commands, %d tables:\n%s", headings, sectionCommands, tables, out)
	}
}

func TestResultString(t *testing.T) {
	r := Result{Records: 200000, Bytes: 200000 * 1024, Elapsed: 2 * time.Second,
		Latency: Summary{Count: 200000, Mean: 1500 * time.Microsecond, P50: time.Millisecond, P99: 3 * time.Millisecond, P999: 4 * time.Millisecond, Max: 12 * time.Millisecond}}
	want := "200000 records, 100000.0 records/sec (97.66 MB/sec), 1.50 ms avg latency, 12.00 ms max latency, 1.00 ms 50th, 3.00 ms 99th, 4.00 ms 99.9th."
	if got := r.String(); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if got := (Result{Records: 10, Elapsed: time.Second}).String(); got != "10 records, 10.0 records/sec (0.00 MB/sec)." {
		t.Fatalf("consume summary: %s", got)
	}
}
