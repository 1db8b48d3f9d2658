package replication

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/partition"
)

// BenchmarkAcksAllOneFollower measures acks=all produces to a leader with
// one in-sync follower copying through a Fetcher (in process, both logs
// fsyncing every append): each produce completes after the follower's
// append and its next fetch.
//
//	go test ./internal/replication -run XXX -bench AcksAllOneFollower
func BenchmarkAcksAllOneFollower(b *testing.B) {
	// parallelism 0: one producer; n: n x GOMAXPROCS concurrent producers.
	for _, parallelism := range []int{0, 8} {
		name := "one-producer"
		if parallelism > 0 {
			name = "8x-GOMAXPROCS-producers"
		}
		b.Run(name, func(b *testing.B) {
			leader, follower := openPartition(b, b.TempDir()), openPartition(b, b.TempDir())
			leader.SetLocalReplicaID(1)
			if err := leader.BecomeLeader(1, []int32{1, 2}, []int32{1, 2}); err != nil {
				b.Fatal(err)
			}
			if err := follower.BecomeFollower(1, 1); err != nil {
				b.Fatal(err)
			}
			f := New(Config{ReplicaID: 2, MaxWait: 500 * time.Millisecond}, &partitionLeader{parts: map[string]*partition.Partition{"t": leader}})
			defer f.Close()
			f.Add(TopicPartition{Topic: "t"}, follower, 1)
			data := batch(b, 0, 10, string(bytes.Repeat([]byte("v"), 100)))
			b.SetBytes(int64(len(data)))
			b.ResetTimer()
			if parallelism == 0 {
				for b.Loop() {
					if _, err := leader.Produce(context.Background(), bytes.Clone(data), -1); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			b.SetParallelism(parallelism)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := leader.Produce(context.Background(), bytes.Clone(data), -1); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
