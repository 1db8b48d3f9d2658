package broker_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/clustertest"
	"github.com/gregor-log/gregor/internal/metadata"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkClusterProduce measures produce through a three-node
// in-process cluster (rf=3, min.insync.replicas=2) with franz-go, 1 KiB
// records, pipelined (async produce, flushed at the end): acks=all waits
// for the followers' fetches, acks=1 for the leader's fsync only.
//
//	go test ./internal/broker -run '^$' -bench BenchmarkClusterProduce -benchtime 20000x
func BenchmarkClusterProduce(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts []kgo.Opt
	}{
		{"acks=all", []kgo.Opt{kgo.RequiredAcks(kgo.AllISRAcks())}},
		{"acks=1", []kgo.Opt{kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite()}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := clustertest.Start(b, 3, nil)
			c.WaitForBrokers(b, 3)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			minISR := "2"
			const topic = "bench"
			if resp, err := c.Admin(b).CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": &minISR}, topic); err != nil || resp.Err != nil {
				b.Fatalf("CreateTopic: %v / %v", err, resp.Err)
			}
			clustertest.WaitFor(b, 30*time.Second, "the ISR", func() bool {
				t, ok := c.Image().Topic(topic)
				return ok && len(t.Partitions[0].ISR) == 3 && t.Partitions[0].Leader != metadata.NoLeader
			})
			cl := c.Client(b, append(bc.opts, kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(0))...)
			value := make([]byte, 1024)
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
				b.Fatal(err)
			}
			var mu sync.Mutex
			var firstErr error
			b.SetBytes(int64(len(value)))
			b.ResetTimer()
			for range b.N {
				cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
					if err != nil {
						mu.Lock()
						firstErr = err
						mu.Unlock()
					}
				})
			}
			if err := cl.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if firstErr != nil {
				b.Fatal(firstErr)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
