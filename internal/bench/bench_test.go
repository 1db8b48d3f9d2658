package bench

import (
	"context"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/testbroker"
	"github.com/twmb/franz-go/pkg/kgo"
)

func startTopic(t testing.TB, partitions string) (string, []kgo.Opt) {
	t.Helper()
	b := testbroker.Start(t, map[string]string{"num.partitions": partitions})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := b.Admin(t).CreateTopic(ctx, -1, -1, nil, "bench"); err != nil {
		t.Fatal(err)
	}
	return "bench", []kgo.Opt{kgo.SeedBrokers(b.Addr)}
}

func TestProduceThenConsume(t *testing.T) {
	topic, opts := startTopic(t, "3")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := RunProduce(ctx, ProduceConfig{Topic: topic, RecordBytes: 50, Records: 3001, Producers: 2, ClientOpts: opts})
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != 3001 || res.Bytes != 3001*50 || res.Errors != 0 || res.Latency.Count() != 3001 || res.Elapsed <= 0 {
		t.Fatalf("produce result %+v", res)
	}
	// Until the end: every record produced, nothing more.
	got, err := RunConsume(ctx, ConsumeConfig{Topic: topic, Consumers: 2, ClientOpts: opts})
	if err != nil {
		t.Fatal(err)
	}
	if got.Records != 3001 || got.Bytes != 3001*50 {
		t.Fatalf("consume result %+v", got)
	}
	// A count.
	got, err = RunConsume(ctx, ConsumeConfig{Topic: topic, Records: 100, Consumers: 1, ClientOpts: opts})
	if err != nil {
		t.Fatal(err)
	}
	if got.Records < 100 {
		t.Fatalf("consume -n 100 read %d", got.Records)
	}
}

func TestProduceForADurationAtARate(t *testing.T) {
	topic, opts := startTopic(t, "1")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := RunProduce(ctx, ProduceConfig{Topic: topic, RecordBytes: 10, Duration: 500 * time.Millisecond, Rate: 200, Producers: 1, ClientOpts: opts})
	if err != nil {
		t.Fatal(err)
	}
	// Pacing allows at most one record per 5 ms slot in the window.
	if res.Records == 0 || res.Records > 101 {
		t.Fatalf("rate-limited run produced %d records", res.Records)
	}
}

func TestConfigErrors(t *testing.T) {
	ctx := context.Background()
	for _, cfg := range []ProduceConfig{
		{RecordBytes: 1, Records: 1, Producers: 1},
		{Topic: "t", RecordBytes: 1, Producers: 1},
		{Topic: "t", RecordBytes: 1, Records: 1},
		{Topic: "t", RecordBytes: -1, Records: 1, Producers: 1},
		{Topic: "t", Records: 1, Producers: 1, Rate: -1},
	} {
		if _, err := RunProduce(ctx, cfg); err == nil {
			t.Errorf("%+v: want an error", cfg)
		}
	}
	if _, err := RunConsume(ctx, ConsumeConfig{Topic: "t"}); err == nil {
		t.Error("consume without consumers: want an error")
	}
}

// BenchmarkProduce measures acks=all produce throughput of 100-byte
// records into an in-process broker (one partition, one producer):
//
//	go test ./internal/bench -run NONE -bench Produce -benchtime 200000x
func BenchmarkProduce(b *testing.B) {
	topic, opts := startTopic(b, "1")
	b.SetBytes(100)
	b.ResetTimer()
	res, err := RunProduce(context.Background(), ProduceConfig{Topic: topic, RecordBytes: 100, Records: int64(b.N), Producers: 1, ClientOpts: opts})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(res.Latency.Quantile(0.99).Microseconds()), "p99-µs")
}

// BenchmarkConsume measures reading 100-byte records from the start.
func BenchmarkConsume(b *testing.B) {
	topic, opts := startTopic(b, "1")
	ctx := context.Background()
	if _, err := RunProduce(ctx, ProduceConfig{Topic: topic, RecordBytes: 100, Records: int64(b.N), Producers: 1, ClientOpts: opts}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(100)
	b.ResetTimer()
	res, err := RunConsume(ctx, ConsumeConfig{Topic: topic, Consumers: 1, ClientOpts: opts})
	if err != nil {
		b.Fatal(err)
	}
	if res.Records != int64(b.N) {
		b.Fatalf("read %d of %d", res.Records, b.N)
	}
}
