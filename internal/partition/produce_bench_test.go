package partition

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"testing"
)

// BenchmarkProduce appends batches of 1 KiB records through Produce (acks=all,
// the high watermark wait included), in page-cache mode (flush.messages
// huge: no fsync) and durable mode (flush.messages=1: an fsync per append,
// the default). Idempotent batches exercise the sequence checks too.
//
//	go test -run '^$' -bench Produce -benchmem ./internal/partition/
func BenchmarkProduce(b *testing.B) {
	for _, mode := range []struct {
		name          string
		flushMessages int64
	}{{"pagecache", math.MaxInt64}, {"durable", 1}} {
		for _, records := range []int{1, 16, 256} {
			for _, idempotent := range []bool{false, true} {
				name := fmt.Sprintf("%s/records=%d/idempotent=%v", mode.name, records, idempotent)
				b.Run(name, func(b *testing.B) {
					cfg := testConfig()
					cfg.Storage.SegmentBytes = 256 << 20
					cfg.Storage.FlushMessages = mode.flushMessages
					cfg.MaxMessageBytes = 8 << 20
					p := openTest(b, b.TempDir(), cfg)
					defer p.Close()
					spec := plain(records)
					spec.value = make([]byte, 1024)
					if idempotent {
						spec = idem(1, 0, 0, records)
						spec.value = make([]byte, 1024)
					}
					batch := makeBatch(b, spec)
					ctx := context.Background()
					b.SetBytes(int64(len(batch)))
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; b.Loop(); i++ {
						if idempotent {
							setSequence(batch, int32(i*records))
						}
						if _, err := p.Produce(ctx, batch, -1); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(b.N*records)/b.Elapsed().Seconds(), "records/s")
				})
			}
		}
	}
}

// setSequence rewrites an idempotent batch's base sequence and its CRC.
func setSequence(batch []byte, seq int32) {
	batch[53], batch[54], batch[55], batch[56] = byte(seq>>24), byte(seq>>16), byte(seq>>8), byte(seq)
	putCRC(batch)
}

// BenchmarkProduceConcurrent: 16 producers append 16-record batches to one
// partition in durable mode (an fsync before each answer). Plain
// (non-idempotent) appends do not take the partition's append lock, so
// their fsyncs group in the storage; idempotent ones hold it across the
// append and its fsync, so theirs do not.
//
//	go test -run '^$' -bench ProduceConcurrent -benchmem ./internal/partition/
func BenchmarkProduceConcurrent(b *testing.B) {
	for _, idempotent := range []bool{false, true} {
		b.Run(fmt.Sprintf("idempotent=%v", idempotent), func(b *testing.B) {
			cfg := testConfig()
			cfg.Storage.SegmentBytes = 256 << 20
			p := openTest(b, b.TempDir(), cfg)
			defer p.Close()
			var nextPID atomic.Int64
			b.SetBytes(int64(len(makeBatch(b, plain(16)))) + 16*1024)
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				spec := plain(16)
				if idempotent {
					spec = idem(nextPID.Add(1), 0, 0, 16)
				}
				spec.value = make([]byte, 1024)
				batch := makeBatch(b, spec)
				for i := 0; pb.Next(); i++ {
					if idempotent {
						setSequence(batch, int32(i*16))
					}
					if _, err := p.Produce(context.Background(), batch, -1); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N*16)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
