package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/clustertest"
	"github.com/gregor-log/gregor/internal/metadata"
	"github.com/gregor-log/gregor/internal/testbroker"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkAcksAllRoundTrip is the latency of one acks=all produce at a
// time (ns/op = one round trip), on a single node and through a
// three-node cluster (rf=3): the difference is what replication adds to
// each acknowledgement: the follower's fetch wake-up, its append and the
// next fetch that reports the new offset to the leader.
//
//	go test ./internal/broker -run '^$' -bench BenchmarkAcksAllRoundTrip -benchtime 2000x
func BenchmarkAcksAllRoundTrip(b *testing.B) {
	const topic = "latency"
	run := func(b *testing.B, cl *kgo.Client) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		value := make([]byte, 100)
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
				b.Fatal(err)
			}
		}
	}
	opts := []kgo.Opt{kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(0)}
	b.Run("single", func(b *testing.B) {
		br := testbroker.Start(b, map[string]string{"log.flush.interval.messages": "9223372036854775807"})
		ctx := context.Background()
		if resp, err := br.Admin(b).CreateTopic(ctx, 1, 1, nil, topic); err != nil || resp.Err != nil {
			b.Fatalf("CreateTopic: %v / %v", err, resp.Err)
		}
		run(b, br.Client(b, opts...))
	})
	b.Run("cluster3", func(b *testing.B) {
		c := clustertest.Start(b, 3, map[string]string{"log.flush.interval.messages": "9223372036854775807"})
		c.WaitForBrokers(b, 3)
		ctx := context.Background()
		if resp, err := c.Admin(b).CreateTopic(ctx, 1, 3, nil, topic); err != nil || resp.Err != nil {
			b.Fatalf("CreateTopic: %v / %v", err, resp.Err)
		}
		clustertest.WaitFor(b, 30*time.Second, "the ISR", func() bool {
			t, ok := c.Image().Topic(topic)
			return ok && len(t.Partitions[0].ISR) == 3 && t.Partitions[0].Leader != metadata.NoLeader
		})
		run(b, c.Client(b, opts...))
	})
}
