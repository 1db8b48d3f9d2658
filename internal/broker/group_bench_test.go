package broker_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/testbroker"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkGroupRebalance measures how long a fresh group of N franz-go
// consumers takes to settle: from starting the clients until every member
// holds partitions and together they hold all of them. The broker runs
// without group.initial.rebalance.delay.ms (else every figure is that
// delay) and clients heartbeat every 100 ms, so that the time is the
// protocol's round trips rather than the clients' default 3 s interval.
//
//	go test ./internal/broker -run '^$' -bench BenchmarkGroupRebalance -benchtime 3x
func BenchmarkGroupRebalance(b *testing.B) {
	for _, proto := range []string{"eager", "cooperative", "kip848"} {
		for _, n := range []int{1, 10, 100} {
			b.Run(fmt.Sprintf("%s/members=%d", proto, n), func(b *testing.B) {
				benchRebalance(b, proto, n)
			})
		}
	}
}

func benchRebalance(b *testing.B, proto string, n int) {
	const partitions = 100
	br := testbroker.Start(b, map[string]string{"group.initial.rebalance.delay.ms": "0"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := br.Admin(b).CreateTopic(ctx, partitions, 1, nil, "bench"); err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for i := range b.N {
		b.StopTimer()
		group := fmt.Sprintf("bench-%s-%d-%d", proto, n, i)
		assigned := make([]atomic.Int64, n)
		clients := make([]*kgo.Client, n)
		b.StartTimer()
		start := time.Now()
		for m := range n {
			opts := []kgo.Opt{
				kgo.SeedBrokers(br.Addr),
				kgo.ConsumerGroup(group),
				kgo.ConsumeTopics("bench"),
				kgo.HeartbeatInterval(100 * time.Millisecond),
				kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
					assigned[m].Add(int64(len(a["bench"])))
				}),
				kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
					assigned[m].Add(-int64(len(a["bench"])))
				}),
				kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
					assigned[m].Add(-int64(len(a["bench"])))
				}),
			}
			switch proto {
			case "eager":
				opts = append(opts, kgo.Balancers(kgo.RangeBalancer()))
			case "cooperative":
				opts = append(opts, kgo.Balancers(kgo.CooperativeStickyBalancer()))
			case "kip848":
				opts = append(opts, kgo.ServerSideBalancer(), kgo.Balancers(kgo.CooperativeStickyBalancer()))
			}
			cl, err := kgo.NewClient(opts...)
			if err != nil {
				b.Fatal(err)
			}
			clients[m] = cl
			// A consumer joins its group on its first poll.
			go func() {
				for ctx.Err() == nil {
					if cl.PollFetches(ctx).IsClientClosed() {
						return
					}
				}
			}()
		}
		for {
			sum, everyone := int64(0), true
			for m := range assigned {
				a := assigned[m].Load()
				sum += a
				everyone = everyone && a > 0
			}
			if sum == partitions && everyone {
				break
			}
			if ctx.Err() != nil {
				b.Fatalf("group of %d never settled (%d partitions held)", n, sum)
			}
			time.Sleep(time.Millisecond) // sampling the condition
		}
		took := time.Since(start)
		total += took
		b.StopTimer()
		for _, cl := range clients {
			cl.Close()
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/rebalance")
}
