package broker

import (
	"context"
	"math"
	"testing"

	"github.com/gregor-log/gregor/internal/partition"
	"github.com/gregor-log/gregor/internal/storage"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// realSource serves one real partition (storage engine and all) as topic "t".
type realSource struct{ p partitionWithLog }

func (s realSource) servedPartition(topic string, index int32) (servedPartition, error) {
	if topic != "t" || index != 0 {
		return nil, errNoPartition
	}
	return s.p, nil
}
func (s realSource) topicNameByID(id [16]byte) (string, bool) { return "t", id == [16]byte{1} }
func (s realSource) topicID(name string) ([16]byte, bool)     { return [16]byte{1}, name == "t" }

// BenchmarkFetchRequest measures the handler's own cost per fetch request
// (decoding excluded, the wire does it): a real partition holding 1000
// batches of 16 records of 1 KiB, each request reading 1 MiB from a
// rotating offset, sessionless and in an incremental session. The bytes
// are not copied, so the figures are per request, not per byte.
//
//	go test -run '^$' -bench FetchRequest -benchmem ./internal/broker/
func BenchmarkFetchRequest(b *testing.B) {
	p, err := partition.Open(b.TempDir(), "t", 0, partition.Config{
		Storage:         storage.Config{SegmentBytes: 1 << 30, SegmentIndexBytes: 1 << 20, IndexIntervalBytes: 4096, FlushMessages: math.MaxInt64},
		MaxMessageBytes: 1 << 20,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	batch := makeBatch(16, 1024, 1_700_000_000_000)
	const batches = 1000
	for range batches {
		if _, err := p.Produce(ctx, batch, 1); err != nil {
			b.Fatal(err)
		}
	}
	src := realSource{partitionWithLog{p}}
	for _, mode := range []string{"sessionless", "session"} {
		b.Run(mode, func(b *testing.B) {
			cache := &fetchSessionCache{}
			req := kmsg.NewPtrFetchRequest()
			req.Version = fetchMaxVersion
			req.MaxBytes, req.MinBytes, req.MaxWaitMillis = 1<<20, 1, 500
			req.SessionEpoch = -1
			rt := kmsg.NewFetchRequestTopic()
			rt.TopicID = [16]byte{1}
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.PartitionMaxBytes = 1 << 20
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			if mode == "session" {
				req.SessionEpoch = 0
				resp := fetch(ctx, src, cache, defaultFetchMaxBytes, req)
				req.SessionID, req.SessionEpoch = resp.sessionID, 1
			}
			var bytes int64
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				// Every request names the partition with a new offset, as a
				// consumer moving forward does.
				req.Topics[0].Partitions[0].FetchOffset = int64(i%batches) * 16
				sp := fetch(ctx, src, cache, defaultFetchMaxBytes, req).spliced()
				bytes += sp.Len()
				if mode == "session" {
					req.SessionEpoch = nextFetchSessionEpoch(req.SessionEpoch)
				}
			}
			b.ReportMetric(float64(bytes)/float64(b.N), "bytes/op")
		})
	}
}
