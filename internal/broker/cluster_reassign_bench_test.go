package broker_test

import (
	"context"
	"crypto/rand"
	"slices"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/clustertest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkClusterReassignmentCopy measures moving a partition of b.N
// 1 KiB records from node 1 to node 2 of a two-node in-process cluster:
// from AlterPartitionAssignments to the image showing the move complete
// (the copy, the ISR expansion and the completion record), without and
// with follower.replication.throttled.rate. The records are produced,
// uncompressed, before the timer starts.
//
//	go test ./internal/broker -run '^$' -bench BenchmarkClusterReassignmentCopy -benchtime 20000x
func BenchmarkClusterReassignmentCopy(b *testing.B) {
	for _, bc := range []struct {
		name string
		rate string
	}{
		{"unthrottled", ""},
		{"throttled=4MiB/s", "4194304"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			overrides := map[string]string{}
			if bc.rate != "" {
				overrides["follower.replication.throttled.rate"] = bc.rate
			}
			c := clustertest.Start(b, 2, overrides)
			c.WaitForBrokers(b, 2)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			const topic = "moved"
			createAssigned(b, c, topic, 1)
			cl := c.Client(b, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
				kgo.ProducerBatchCompression(kgo.NoCompression()))
			value := make([]byte, 1024)
			rand.Read(value) // the bytes on disk are the bytes copied
			for range b.N {
				cl.Produce(ctx, &kgo.Record{Value: value}, nil)
			}
			if err := cl.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(value)))
			var req kadm.AlterPartitionAssignmentsReq
			req.Assign(topic, 0, []int32{2})
			b.ResetTimer()
			if resp, err := c.Admin(b).AlterPartitionAssignments(ctx, req); err != nil || resp.Error() != nil {
				b.Fatalf("AlterPartitionAssignments: %v / %v", err, resp.Error())
			}
			for {
				if p := partitionState(c, topic); !p.Reassigning() && slices.Equal(p.Replicas, []int32{2}) {
					break
				}
				if ctx.Err() != nil {
					b.Fatal("the move did not complete")
				}
				time.Sleep(5 * time.Millisecond) // polling the image for the end of the move
			}
			b.StopTimer()
		})
	}
}
