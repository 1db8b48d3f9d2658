package broker_test

// End-to-end tests of the produce path with a real client (franz-go):
// idempotent producers, acks 0/1/all, every codec, size limits, corrupt
// batches sent raw, and producer ids and state across a restart.

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/record"
	"github.com/gregor-log/gregor/internal/testbroker"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func produceCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func createTopic(t *testing.T, b *testbroker.Broker, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	resp, err := b.Admin(t).CreateTopic(produceCtx(t), partitions, 1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// consumeAll reads n records of topic from the start, failing on a deadline.
func consumeAll(t *testing.T, b *testbroker.Broker, topic string, n int) []*kgo.Record {
	t.Helper()
	cl := b.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx := produceCtx(t)
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records before the deadline", len(out), n)
		}
		for _, e := range fs.Errors() {
			t.Fatalf("fetch %s[%d]: %v", e.Topic, e.Partition, e.Err)
		}
		out = append(out, fs.Records()...)
	}
	if len(out) != n {
		t.Fatalf("consumed %d records, want %d", len(out), n)
	}
	return out
}

func endOffsets(t *testing.T, b *testbroker.Broker, topic string) map[int32]int64 {
	t.Helper()
	ends, err := b.Admin(t).ListEndOffsets(produceCtx(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("end offset of %s[%d]: %v", o.Topic, o.Partition, o.Err)
		}
		out[o.Partition] = o.Offset
	})
	return out
}

func TestProduceIdempotentAcks(t *testing.T) {
	b := testbroker.Start(t, nil)
	for _, tt := range []struct {
		name string
		opts []kgo.Opt
	}{
		{"idempotent acks=all", nil}, // franz-go's default
		{"acks=leader", []kgo.Opt{kgo.DisableIdempotentWrite(), kgo.RequiredAcks(kgo.LeaderAck())}},
		{"acks=none", []kgo.Opt{kgo.DisableIdempotentWrite(), kgo.RequiredAcks(kgo.NoAck())}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			topic := "acks-" + strings.NewReplacer(" ", "-", "=", "-").Replace(tt.name)
			createTopic(t, b, topic, 3, nil)
			cl := b.Client(t, append([]kgo.Opt{kgo.DefaultProduceTopic(topic)}, tt.opts...)...)
			const n = 300
			ctx := produceCtx(t)
			for i := range n {
				cl.Produce(ctx, &kgo.Record{Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i)}, func(r *kgo.Record, err error) {
					if err != nil {
						t.Errorf("produce: %v", err)
					}
				})
			}
			if err := cl.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			got := consumeAll(t, b, topic, n)
			seen := map[string]bool{}
			for _, r := range got {
				if seen[string(r.Value)] {
					t.Fatalf("record %q consumed twice", r.Value)
				}
				seen[string(r.Value)] = true
			}
		})
	}
}

func TestProduceEveryCodec(t *testing.T) {
	b := testbroker.Start(t, nil)
	createTopic(t, b, "codecs", 1, nil)
	codecs := []struct {
		name  string
		codec kgo.CompressionCodec
	}{
		{"none", kgo.NoCompression()}, {"gzip", kgo.GzipCompression()}, {"snappy", kgo.SnappyCompression()},
		{"lz4", kgo.Lz4Compression()}, {"zstd", kgo.ZstdCompression()},
	}
	want := 0
	for _, c := range codecs {
		cl := b.Client(t, kgo.DefaultProduceTopic("codecs"), kgo.ProducerBatchCompression(c.codec))
		var recs []*kgo.Record
		for i := range 50 {
			recs = append(recs, &kgo.Record{Value: fmt.Appendf(nil, "%s %d %s", c.name, i, "compressible compressible compressible")})
		}
		if err := cl.ProduceSync(produceCtx(t), recs...).FirstErr(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		want += len(recs)
	}
	consumeAll(t, b, "codecs", want)
}

func TestProduceMessageTooLarge(t *testing.T) {
	b := testbroker.Start(t, nil)
	createTopic(t, b, "small", 1, map[string]*string{"max.message.bytes": new("1024")})
	cl := b.Client(t, kgo.DefaultProduceTopic("small"))
	value := make([]byte, 4096)
	rand.Read(value) // incompressible: the batch stays above the limit
	err := cl.ProduceSync(produceCtx(t), &kgo.Record{Value: value}).FirstErr()
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("err = %v, want MESSAGE_TOO_LARGE", err)
	}
	if ends := endOffsets(t, b, "small"); ends[0] != 0 {
		t.Fatalf("end offset %d after a refused produce", ends[0])
	}
}

// rawRequest sends req (a non-flexible version) on its own connection,
// bypassing the client, which would rewrite acks, and reads the answer.
func rawRequest(t *testing.T, b *testbroker.Broker, req kmsg.Request) kmsg.Response {
	t.Helper()
	conn := b.Dial(t)
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	const correlationID = 7
	frame := []byte{0, 0, 0, 0}
	frame = binary.BigEndian.AppendUint16(frame, uint16(req.Key()))
	frame = binary.BigEndian.AppendUint16(frame, uint16(req.GetVersion()))
	frame = binary.BigEndian.AppendUint32(frame, correlationID)
	frame = binary.BigEndian.AppendUint16(frame, 4)
	frame = append(frame, "test"...)
	frame = req.AppendTo(frame)
	binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
	if _, err := conn.Write(frame); err != nil {
		t.Fatal(err)
	}
	var size [4]byte
	if _, err := io.ReadFull(conn, size[:]); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(conn, body); err != nil {
		t.Fatal(err)
	}
	if got := binary.BigEndian.Uint32(body); got != correlationID {
		t.Fatalf("correlation id %d", got)
	}
	resp := req.ResponseKind()
	if err := resp.ReadFrom(body[4:]); err != nil {
		t.Fatal(err)
	}
	return resp
}

// rawProduce sends one partition's records to topic[0] with a hand-made
// ProduceRequest v7.
func rawProduce(t *testing.T, b *testbroker.Broker, topic string, acks int16, records []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 7, acks, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := rawRequest(t, b, req).(*kmsg.ProduceResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("response %+v", resp)
	}
	return resp.Topics[0].Partitions[0]
}

func buildBatch(t *testing.T, n int) []byte {
	t.Helper()
	bb := record.NewBuilder(0, record.CodecNone)
	for i := range n {
		bb.Add(time.Now().UnixMilli(), fmt.Appendf(nil, "k%d", i), fmt.Appendf(nil, "v%d", i))
	}
	out, err := bb.Build()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestProduceRawErrors(t *testing.T) {
	b := testbroker.Start(t, nil)
	createTopic(t, b, "raw", 1, nil)
	corrupt := buildBatch(t, 3)
	corrupt[len(corrupt)-1] ^= 0xff
	if p := rawProduce(t, b, "raw", -1, corrupt); p.ErrorCode != kerr.CorruptMessage.Code {
		t.Fatalf("corrupt CRC: error %d, want CORRUPT_MESSAGE", p.ErrorCode)
	}
	if ends := endOffsets(t, b, "raw"); ends[0] != 0 {
		t.Fatalf("end offset %d after a corrupt batch", ends[0])
	}
	if p := rawProduce(t, b, "raw", 2, buildBatch(t, 1)); p.ErrorCode != kerr.InvalidRequiredAcks.Code {
		t.Fatalf("acks=2: error %d, want INVALID_REQUIRED_ACKS", p.ErrorCode)
	}
	if p := rawProduce(t, b, "nope", 1, buildBatch(t, 1)); p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown topic: error %d", p.ErrorCode)
	}
	p := rawProduce(t, b, "raw", 1, buildBatch(t, 2))
	if p.ErrorCode != 0 || p.BaseOffset != 0 || p.LogStartOffset != 0 {
		t.Fatalf("good batch: %+v", p)
	}
}

func TestInitProducerID(t *testing.T) {
	b := testbroker.Start(t, nil)
	initPID := func(transactionalID *string) *kmsg.InitProducerIDResponse {
		t.Helper()
		req := kmsg.NewPtrInitProducerIDRequest()
		req.Version, req.TransactionalID = 1, transactionalID
		return rawRequest(t, b, req).(*kmsg.InitProducerIDResponse)
	}
	first, second := initPID(nil), initPID(nil)
	for _, r := range []*kmsg.InitProducerIDResponse{first, second} {
		if r.ErrorCode != 0 || r.ProducerEpoch != 0 || r.ProducerID < 0 {
			t.Fatalf("InitProducerId: %+v", r)
		}
	}
	if first.ProducerID == second.ProducerID {
		t.Fatalf("two producers got id %d", first.ProducerID)
	}
	if r := initPID(new("my-txn")); r.ErrorCode != kerr.TransactionalIDAuthorizationFailed.Code {
		t.Fatalf("transactional InitProducerId: error %d", r.ErrorCode)
	}
	b.Restart()
	if third := initPID(nil); third.ErrorCode != 0 || third.ProducerID <= second.ProducerID {
		t.Fatalf("after restart: %+v; ids up to %d were handed out before", third, second.ProducerID)
	}
}

// TestIdempotentProducerAcrossRestart keeps one idempotent client producing
// while the broker restarts: its sequence numbers carry on against the
// restored producer state, and nothing is written twice.
func TestIdempotentProducerAcrossRestart(t *testing.T) {
	b := testbroker.Start(t, nil)
	createTopic(t, b, "restart", 1, nil)
	cl := b.Client(t, kgo.DefaultProduceTopic("restart"), kgo.RecordRetries(100))
	ctx := produceCtx(t)
	produceN := func(from, n int) {
		t.Helper()
		var recs []*kgo.Record
		for i := from; i < from+n; i++ {
			recs = append(recs, &kgo.Record{Value: fmt.Appendf(nil, "v%d", i)})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produceN(0, 100)
	b.Restart()
	produceN(100, 100)
	got := consumeAll(t, b, "restart", 200)
	for i, r := range got {
		if want := fmt.Sprintf("v%d", i); string(r.Value) != want || r.Offset != int64(i) {
			t.Fatalf("record %d: %q at offset %d", i, r.Value, r.Offset)
		}
	}
}

func TestProduceRequestShapes(t *testing.T) {
	b := testbroker.Start(t, nil)
	createTopic(t, b, "shapes", 3, nil)

	// zstd needs produce v7 (KIP-110).
	zb := record.NewBuilder(0, record.CodecZstd)
	zb.Add(time.Now().UnixMilli(), nil, []byte("z"))
	zstd, err := zb.Build()
	if err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 5, 1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "shapes"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = zstd
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := rawRequest(t, b, req).(*kmsg.ProduceResponse)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.UnsupportedCompressionType.Code {
		t.Fatalf("zstd in produce v5: error %d, want UNSUPPORTED_COMPRESSION_TYPE", code)
	}

	// Several partitions (one unknown, one corrupt) in one request are
	// answered in request order, each on its own.
	corrupt := buildBatch(t, 1)
	corrupt[len(corrupt)-1] ^= 1
	req = kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 7, -1, 5000
	rt = kmsg.NewProduceRequestTopic()
	rt.Topic = "shapes"
	want := []int16{0, kerr.CorruptMessage.Code, kerr.UnknownTopicOrPartition.Code, 0}
	for i, p := range []int32{2, 0, 9, 1} {
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = p, buildBatch(t, 2)
		if i == 1 {
			rp.Records = corrupt
		}
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp = rawRequest(t, b, req).(*kmsg.ProduceResponse)
	for i, p := range resp.Topics[0].Partitions {
		if p.Partition != rt.Partitions[i].Partition || p.ErrorCode != want[i] {
			t.Fatalf("answer %d: partition %d error %d, want partition %d error %d", i, p.Partition, p.ErrorCode, rt.Partitions[i].Partition, want[i])
		}
	}
	if ends := endOffsets(t, b, "shapes"); ends[0] != 0 || ends[1] != 2 || ends[2] != 2 {
		t.Fatalf("end offsets %v", ends)
	}
}

// TestProduceAcksZeroErrorClosesConnection: an acks=0 producer reads no
// response, so a failed request closes its connection, as Kafka does.
func TestProduceAcksZeroErrorClosesConnection(t *testing.T) {
	b := testbroker.Start(t, nil)
	createTopic(t, b, "zero", 1, nil)
	conn := b.Dial(t)
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	corrupt := buildBatch(t, 1)
	corrupt[len(corrupt)-1] ^= 1
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 7, 0, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "zero"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = corrupt
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	frame := []byte{0, 0, 0, 0}
	frame = binary.BigEndian.AppendUint16(frame, 0)
	frame = binary.BigEndian.AppendUint16(frame, 7)
	frame = binary.BigEndian.AppendUint32(frame, 1)
	frame = binary.BigEndian.AppendUint16(frame, 0xffff) // null client id
	frame = req.AppendTo(frame)
	binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
	if _, err := conn.Write(frame); err != nil {
		t.Fatal(err)
	}
	var one [1]byte
	n, err := conn.Read(one[:])
	var ne net.Error
	if n != 0 || err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("read %d bytes, err %v: want the connection closed", n, err)
	}
}
