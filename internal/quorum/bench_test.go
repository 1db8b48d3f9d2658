package quorum

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/metadata"
)

// BenchmarkAppend measures Append on the leader until the batch is
// committed and applied there, with every node fsyncing its WAL, on one
// and three voters: "serial" is one caller at a time (latency per
// Append), "parallel" many callers whose proposals share Readies and
// fsyncs (throughput).
//
//	go test -run XXX -bench Append -benchtime 2000x ./internal/quorum/
func BenchmarkAppend(b *testing.B) {
	for _, voters := range []int{1, 3} {
		for _, mode := range []string{"serial", "parallel"} {
			b.Run(fmt.Sprintf("voters=%d/%s", voters, mode), func(b *testing.B) {
				c := newCluster(b, voters, 0, func(cfg *Config) { cfg.TickInterval = 50 * time.Millisecond })
				c.startAll()
				lead := c.leader()
				ctx := context.Background()
				var next atomic.Int32
				// A broker re-registering: the image stays the same size,
				// so the benchmark measures the quorum, not the image.
				record := func() metadata.Record {
					id := next.Add(1) % 16
					return &metadata.BrokerRecord{NodeID: id, Endpoints: []metadata.Endpoint{{Name: "PLAINTEXT", Host: "localhost", Port: 9092 + id}}}
				}
				b.ResetTimer()
				start := time.Now()
				if mode == "serial" {
					for range b.N {
						if err := lead.AppendContext(ctx, record()); err != nil {
							b.Fatal(err)
						}
					}
				} else {
					b.SetParallelism(16)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := lead.AppendContext(ctx, record()); err != nil {
								b.Fatal(err)
							}
						}
					})
				}
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "appends/s")
			})
		}
	}
}
