package perf

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/testbroker"
)

// TestProduceConsumeGregor runs the load generator against an in-process
// broker: a few hundred records each way, checking counts, not speed.
func TestProduceConsumeGregor(t *testing.T) {
	b := testbroker.Start(t, nil)
	testProduceConsume(t, []string{b.Addr})
}

// TestProduceConsumeKfake is the same against the kfake peer.
func TestProduceConsumeKfake(t *testing.T) {
	p, err := startKfake()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.stop() })
	testProduceConsume(t, p.brokers)
}

// TestProduceConsumeKfakeProcess is the same against kfake in its own
// process, as Compare runs it (this test binary re-executed, see TestMain);
// stopping the peer ends that process.
func TestProduceConsumeKfakeProcess(t *testing.T) {
	p, err := startKfakeProcess(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	testProduceConsume(t, p.brokers)
	if err := p.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

func testProduceConsume(t *testing.T, brokers []string) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	const n, size = 400, 200
	for _, tc := range []struct {
		name      string
		acks      string
		producers int
	}{
		{"acks=all", "all", 1},
		{"acks=1 two producers", "1", 2},
		{"acks=0", "0", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := "smoke-" + tc.acks
			o := DefaultProduceOptions()
			o.Brokers, o.Topic, o.Partitions = brokers, topic, 3
			o.RecordSize, o.Records, o.Acks, o.Producers = size, n, tc.acks, tc.producers
			o.Idempotent = tc.acks == "all"
			o.Compression = "lz4"
			res, err := Produce(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			if res.Records != n || res.Bytes != n*size || res.Latency.Count != n {
				t.Fatalf("produce: %+v", res)
			}
			t.Log("produce:", res)
			res, err = Consume(ctx, ConsumeOptions{Brokers: brokers, Topic: topic, Records: n, FetchStats: true})
			if err != nil {
				t.Fatal(err)
			}
			if res.Records != n || res.Bytes != n*size {
				t.Fatalf("consume: %+v", res)
			}
			// Every answer is counted once, with its size and read time.
			if f := res.Fetches; f == nil || f.Count == 0 || f.Read.Count != f.Count || f.MedianBytes <= 0 || f.Read.Max <= 0 {
				t.Fatalf("consume fetch stats: %+v", res.Fetches)
			}
			t.Log("consume:", res)
			// A count below what a fetch carries: exactly that many.
			res, err = Consume(ctx, ConsumeOptions{Brokers: brokers, Topic: topic, Records: n / 4})
			if err != nil {
				t.Fatal(err)
			}
			if res.Records != n/4 || res.Bytes != n/4*size {
				t.Fatalf("consume n/4: %+v", res)
			}
			if err := DeleteTopic(ctx, brokers, topic); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("e2e", func(t *testing.T) {
		o := DefaultE2EOptions()
		o.Brokers, o.Topic, o.Partitions = brokers, "smoke-e2e", 2
		o.Rate, o.Records, o.Duration, o.Warmup, o.RecordSize = 2000, 200, 0, 20, 64
		res, err := EndToEnd(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		if res.Records != 200 || res.Latency.Count != 200 {
			t.Fatalf("e2e: %+v", res)
		}
		t.Log("e2e:", res)
	})
}

// TestProduceForADuration stops a paced run by its duration: it ends
// without error, and every acknowledged record has its latency.
func TestProduceForADuration(t *testing.T) {
	b := testbroker.Start(t, nil)
	o := DefaultProduceOptions()
	o.Brokers, o.Topic, o.RecordSize = []string{b.Addr}, "paced", 10
	o.Records, o.Duration, o.Rate = 0, 200*time.Millisecond, 200
	res, err := Produce(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Records == 0 || res.Latency.Count != uint64(res.Records) || res.Bytes != res.Records*10 {
		t.Fatalf("paced produce: %+v", res)
	}
}

// BenchmarkProduce measures acks=all produce of 100-byte records into an
// in-process broker (one partition, one producer); the latency p99 is a
// metric of its own:
//
//	go test ./internal/perf -run NONE -bench Produce -benchtime 200000x
func BenchmarkProduce(b *testing.B) {
	br := testbroker.Start(b, nil)
	o := DefaultProduceOptions()
	o.Brokers, o.Topic, o.RecordSize, o.Records = []string{br.Addr}, "bench", 100, int64(b.N)
	b.SetBytes(100)
	b.ResetTimer()
	res, err := Produce(b.Context(), o)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(res.Latency.P99.Microseconds()), "p99-µs")
}

// BenchmarkConsume measures reading 100-byte records from the start of
// one partition of an in-process broker.
func BenchmarkConsume(b *testing.B) {
	br := testbroker.Start(b, nil)
	o := DefaultProduceOptions()
	o.Brokers, o.Topic, o.RecordSize, o.Records = []string{br.Addr}, "bench", 100, int64(b.N)
	if _, err := Produce(b.Context(), o); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(100)
	b.ResetTimer()
	res, err := Consume(b.Context(), ConsumeOptions{Brokers: o.Brokers, Topic: o.Topic, Records: int64(b.N)})
	if err != nil {
		b.Fatal(err)
	}
	if res.Records != int64(b.N) {
		b.Fatalf("read %d of %d", res.Records, b.N)
	}
}

// TestConsumeKcat reads with librdkafka's consumer (kcat) from Gregor:
// the count it reports is the records kcat printed, and asking for more
// than the topic holds fails rather than timing a short read.
func TestConsumeKcat(t *testing.T) {
	bin, err := findKcat("")
	if err != nil {
		if os.Getenv("GREGOR_TEST_REQUIRE_COMPAT") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	b := testbroker.Start(t, nil)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	o := DefaultProduceOptions()
	o.Brokers, o.Topic, o.Partitions, o.RecordSize, o.Records = []string{b.Addr}, "kcat", 2, 100, 300
	if _, err := Produce(ctx, o); err != nil {
		t.Fatal(err)
	}
	res, err := ConsumeKcat(ctx, bin, []string{b.Addr}, "kcat", 300, 100)
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != 300 || res.Bytes != 300*100 || res.Elapsed <= 0 {
		t.Fatalf("kcat: %+v", res)
	}
	// kcat -e stops at the end of the partitions: 301 is never reached.
	if _, err := ConsumeKcat(ctx, bin, []string{b.Addr}, "kcat", 301, 100); err == nil || !strings.Contains(err.Error(), "read 300 records, want 301") {
		t.Fatalf("short read: err = %v", err)
	}
}
