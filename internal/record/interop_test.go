package record

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// The tests here hold this package against franz-go as an independent
// reference: kmsg's RecordBatch and Record encoders and decoders, kgo's
// compressors, and, over loopback to an in-process kfake cluster, kgo's real
// producer and consumer.

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// kmsgBatch encodes recs the way franz-go does, independently of Builder.
func kmsgBatch(t testing.TB, codec Codec, recs []testRecord) []byte {
	t.Helper()
	var raw []byte
	for i, r := range recs {
		kr := kmsg.Record{
			TimestampDelta64: r.ts - recs[0].ts,
			OffsetDelta:      int32(i),
			Key:              r.key,
			Value:            r.value,
		}
		for _, h := range r.headers {
			kr.Headers = append(kr.Headers, kmsg.Header{Key: string(h.Key), Value: h.Value})
		}
		body := kr.AppendTo(nil)
		// AppendTo writes Length as given; franz-go's producer fills it
		// in, so do that: re-encode with the body's size.
		kr.Length = int32(len(body) - 1)
		raw = kr.AppendTo(raw)
	}
	records := raw
	if codec != CodecNone {
		comp, err := kgo.DefaultCompressor(kgoCodec(codec))
		if err != nil {
			t.Fatal(err)
		}
		out, _ := comp.Compress(new(bytes.Buffer), raw)
		records = slices.Clone(out)
	}
	var maxTS int64
	for _, r := range recs {
		maxTS = max(maxTS, r.ts)
	}
	kb := kmsg.RecordBatch{
		FirstOffset:          0,
		PartitionLeaderEpoch: -1,
		Magic:                2,
		Attributes:           int16(codec),
		LastOffsetDelta:      int32(len(recs) - 1),
		FirstTimestamp:       recs[0].ts,
		MaxTimestamp:         maxTS,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           int32(len(recs)),
		Records:              records,
	}
	b := kb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32c))
	return b
}

func kgoCodec(c Codec) kgo.CompressionCodec {
	switch c {
	case CodecGzip:
		return kgo.GzipCompression()
	case CodecSnappy:
		return kgo.SnappyCompression()
	case CodecLZ4:
		return kgo.Lz4Compression()
	case CodecZstd:
		return kgo.ZstdCompression()
	}
	return kgo.NoCompression()
}

func TestKmsgBatchesParse(t *testing.T) {
	for _, codec := range allCodecs {
		for _, n := range []int{1, 10, 500} {
			t.Run(fmt.Sprintf("%s/%d", codec, n), func(t *testing.T) {
				want := sampleRecords(n)
				batch := kmsgBatch(t, codec, want)
				h, err := Validate(batch)
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if err := CheckProduce(batch, h, 1<<24); err != nil {
					t.Fatalf("CheckProduce: %v", err)
				}
				got, err := Records(batch, 1<<24)
				if err != nil {
					t.Fatalf("Records: %v", err)
				}
				checkRecords(t, h, got, want)
			})
		}
	}
}

// kmsgRecords decodes batch with kmsg and kgo's decompressor only.
func kmsgRecords(t testing.TB, batch []byte) (kmsg.RecordBatch, []kmsg.Record) {
	t.Helper()
	var kb kmsg.RecordBatch
	if err := kb.ReadFrom(batch); err != nil {
		t.Fatalf("kmsg RecordBatch: %v", err)
	}
	if int(kb.Length) != len(batch)-12 {
		t.Fatalf("kmsg: length %d for %d bytes", kb.Length, len(batch))
	}
	if uint32(kb.CRC) != crc32.Checksum(batch[21:], crc32c) {
		t.Fatal("kmsg: CRC mismatch")
	}
	raw, err := kgo.DefaultDecompressor().Decompress(kb.Records, kgo.CompressionCodecType(kb.Attributes&7))
	if err != nil {
		t.Fatalf("kgo Decompress: %v", err)
	}
	var recs []kmsg.Record
	for len(raw) > 0 {
		l, n := binary.Varint(raw)
		if n <= 0 || l < 0 || int(l) > len(raw)-n {
			t.Fatalf("record %d: bad length", len(recs))
		}
		var kr kmsg.Record
		if err := kr.ReadFrom(raw[:n+int(l)]); err != nil {
			t.Fatalf("kmsg Record %d: %v", len(recs), err)
		}
		recs = append(recs, kr)
		raw = raw[n+int(l):]
	}
	if len(recs) != int(kb.NumRecords) {
		t.Fatalf("kmsg: %d records, NumRecords %d", len(recs), kb.NumRecords)
	}
	return kb, recs
}

func TestBuilderBatchesDecodeWithKmsg(t *testing.T) {
	for _, codec := range allCodecs {
		for _, n := range []int{1, 10, 500} {
			t.Run(fmt.Sprintf("%s/%d", codec, n), func(t *testing.T) {
				want := sampleRecords(n)
				batch := buildBatch(t, codec, want, func(b *Builder) {
					b.ProducerID, b.ProducerEpoch, b.BaseSequence = 77, 2, 40
				})
				kb, recs := kmsgRecords(t, batch)
				if kb.FirstOffset != 100 || kb.Attributes&7 != int16(codec) || kb.ProducerID != 77 ||
					kb.ProducerEpoch != 2 || kb.FirstSequence != 40 || kb.LastOffsetDelta != int32(n-1) ||
					kb.FirstTimestamp != want[0].ts {
					t.Fatalf("kmsg header %+v", kb)
				}
				for i, kr := range recs {
					w := want[i]
					if kr.OffsetDelta != int32(i) || kb.FirstTimestamp+kr.TimestampDelta64 != w.ts ||
						!sameBytes(kr.Key, w.key) || !sameBytes(kr.Value, w.value) || len(kr.Headers) != len(w.headers) {
						t.Fatalf("record %d: %+v, want %+v", i, kr, w)
					}
					for j, h := range kr.Headers {
						if h.Key != string(w.headers[j].Key) || !sameBytes(h.Value, w.headers[j].Value) {
							t.Fatalf("record %d header %d: %+v", i, j, h)
						}
					}
				}
			})
		}
	}
}

// TestFranzGoClients runs franz-go's real producer and consumer against
// kfake over loopback: batches the producer writes parse here, and batches
// built here are read back by the consumer.
func TestFranzGoClients(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an in-process cluster")
	}
	var (
		mu       sync.Mutex
		produced [][]byte // batches as the producer sent them
	)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "from-kgo", "from-gregor"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		// Produce v13 names topics by id, so take every batch; the
		// producer subtest runs alone and resets the list.
		for _, tp := range req.(*kmsg.ProduceRequest).Topics {
			for _, p := range tp.Partitions {
				mu.Lock()
				produced = append(produced, bytes.Clone(p.Records))
				mu.Unlock()
			}
		}
		return nil, nil, false // let the cluster handle it
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	want := sampleRecords(40)
	toKgo := func(r testRecord) *kgo.Record {
		kr := &kgo.Record{Key: r.key, Value: r.value, Timestamp: time.UnixMilli(r.ts)}
		for _, h := range r.headers {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: string(h.Key), Value: h.Value})
		}
		return kr
	}

	t.Run("producer", func(t *testing.T) {
		for _, codec := range allCodecs {
			mu.Lock()
			produced = nil
			mu.Unlock()
			cl, err := kgo.NewClient(
				kgo.SeedBrokers(cluster.ListenAddrs()...),
				kgo.ProducerBatchCompression(kgoCodec(codec)),
				kgo.DefaultProduceTopic("from-kgo"),
				kgo.ProducerLinger(time.Minute), // one batch, flushed below
			)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range want {
				cl.Produce(ctx, toKgo(r), func(_ *kgo.Record, err error) {
					if err != nil {
						t.Errorf("produce: %v", err)
					}
				})
			}
			if err := cl.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			cl.Close()
			mu.Lock()
			batches := produced
			mu.Unlock()
			var got []Record
			for _, batch := range batches {
				h, err := Validate(batch)
				if err != nil {
					t.Fatalf("%s: Validate: %v", codec, err)
				}
				if h.Codec() != codec {
					t.Fatalf("%s: batch codec %s", codec, h.Codec())
				}
				if err := CheckProduce(batch, h, 1<<24); err != nil {
					t.Fatalf("%s: CheckProduce: %v", codec, err)
				}
				recs, err := Records(batch, 1<<24)
				if err != nil {
					t.Fatalf("%s: Records: %v", codec, err)
				}
				// Offsets restart in each batch; renumber for the check.
				for i := range recs {
					recs[i].Offset = h.BaseOffset + int64(len(got)+i)
					recs[i].OffsetDelta = int32(len(got) + i)
				}
				got = append(got, recs...)
			}
			t.Logf("%s: %d batches, %d records", codec, len(batches), len(got))
			checkRecords(t, Header{}, got, want)
		}
	})

	t.Run("consumer", func(t *testing.T) {
		cl, err := kgo.NewClient(
			kgo.SeedBrokers(cluster.ListenAddrs()...),
			kgo.MaxVersions(kversion.V3_0_0()), // produce by topic name
			kgo.ConsumeTopics("from-gregor"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		for _, codec := range allCodecs {
			batch := buildBatch(t, codec, want, func(b *Builder) { b.BaseOffset = 0 })
			req := kmsg.NewPtrProduceRequest()
			req.Acks = -1
			req.TimeoutMillis = 5000
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic = "from-gregor"
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Records = batch
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				t.Fatal(err)
			}
			if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
				t.Fatalf("%s: produce error code %d", codec, code)
			}
		}
		var got []*kgo.Record
		for len(got) < len(allCodecs)*len(want) {
			fs := cl.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				t.Fatalf("consumed %d records: %v", len(got), err)
			}
			fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
			got = append(got, fs.Records()...)
		}
		t.Logf("consumed %d records", len(got))
		for i, r := range got {
			w := want[i%len(want)]
			if r.Offset != int64(i) || r.Timestamp.UnixMilli() != w.ts || !sameBytes(r.Key, w.key) ||
				!bytes.Equal(r.Value, w.value) || len(r.Headers) != len(w.headers) {
				t.Fatalf("record %d: %+v, want %+v", i, r, w)
			}
			for j, h := range r.Headers {
				if h.Key != string(w.headers[j].Key) || !bytes.Equal(h.Value, w.headers[j].Value) {
					t.Fatalf("record %d header %d: %+v", i, j, h)
				}
			}
		}
	})
}
