package partition

import (
	"context"
	"fmt"
	"math"
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
