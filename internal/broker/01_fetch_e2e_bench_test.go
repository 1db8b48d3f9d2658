package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/testbroker"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkConsume measures consume throughput over loopback: a kgo
// consumer reads a pre-filled topic (1 partition, 64 MiB of 1 KiB records,
// uncompressed) from the start, through the broker's zero-copy fetch path.
// One op is reading the whole topic with a fresh consumer.
//
//	go test -run '^$' -bench Consume -benchtime 5x ./internal/broker/
func BenchmarkConsume(b *testing.B) {
	const (
		valueSize = 1024
		records   = 64 << 10
	)
	br := testbroker.Start(b, map[string]string{"log.flush.interval.messages": "9223372036854775807"})
	feTopic(b, br, "bench", 1)
	prod := br.Client(b, kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(1<<20))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	value := make([]byte, valueSize)
	for i := 0; i < records; i += 1024 {
		recs := make([]*kgo.Record, 1024)
		for j := range recs {
			recs[j] = &kgo.Record{Topic: "bench", Value: value}
		}
		if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(records * valueSize))
	b.ResetTimer()
	for b.Loop() {
		cl := br.Client(b, kgo.ConsumeTopics("bench"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchMaxBytes(50<<20), kgo.FetchMaxPartitionBytes(8<<20))
		n := 0
		for n < records {
			fs := cl.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				b.Fatal(err)
			}
			fs.EachError(func(_ string, _ int32, err error) { b.Fatal(err) })
			n += fs.NumRecords()
		}
		cl.Close()
	}
	b.ReportMetric(float64(records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
