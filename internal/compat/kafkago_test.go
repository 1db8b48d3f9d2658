package compat

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/testbroker"
	kafka "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
)

// TestKafkaGoProduceConsume writes batches with kafka-go's low-level client
// (which reports the base offset of each batch) under every codec, then
// reads them back with kafka-go's Reader.
func TestKafkaGoProduceConsume(t *testing.T) {
	b := testbroker.Start(t, nil)
	const topic = "kafkago-compat"
	createTopic(t, b, topic, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	client := &kafka.Client{Addr: kafka.TCP(b.Addr), Timeout: 30 * time.Second}
	sent := map[at]message{}
	codecs := []compress.Compression{0, compress.Gzip, compress.Snappy, compress.Lz4, compress.Zstd}
	for _, codec := range codecs {
		var records []kafka.Record
		var msgs []message
		for i := range 20 {
			m := message{Key: fmt.Sprintf("k%d", i%3), Value: fmt.Sprintf("codec %d value %d", codec, i),
				Headers: map[string]string{"n": fmt.Sprint(i)}}
			msgs = append(msgs, m)
			records = append(records, kafka.Record{Key: kafka.NewBytes([]byte(m.Key)), Value: kafka.NewBytes([]byte(m.Value)),
				Headers: []kafka.Header{{Key: "n", Value: []byte(m.Headers["n"])}}})
		}
		resp, err := client.Produce(ctx, &kafka.ProduceRequest{Topic: topic, Partition: 0,
			RequiredAcks: kafka.RequireAll, Compression: codec, Records: kafka.NewRecordReader(records...)})
		if err != nil || resp.Error != nil {
			t.Fatalf("produce with codec %d: %v %v", codec, err, resp.Error)
		}
		for i, m := range msgs {
			sent[at{0, resp.BaseOffset + int64(i)}] = m
		}
	}

	// The Writer is how most kafka-go programs produce; it must not fail.
	w := &kafka.Writer{Addr: kafka.TCP(b.Addr), Topic: topic, RequiredAcks: kafka.RequireAll,
		Compression: kafka.Snappy, BatchTimeout: 10 * time.Millisecond}
	if err := w.WriteMessages(ctx, kafka.Message{Key: []byte("writer"), Value: []byte("last")}); err != nil {
		t.Fatalf("writer: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close writer: %v", err)
	}

	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{b.Addr}, Topic: topic, Partition: 0,
		MaxWait: 200 * time.Millisecond})
	defer r.Close()
	got := map[at]message{}
	for len(got) < len(sent)+1 {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read after %d records: %v", len(got), err)
		}
		h := map[string]string{}
		for _, rh := range m.Headers {
			h[rh.Key] = string(rh.Value)
		}
		got[at{int32(m.Partition), m.Offset}] = message{Key: string(m.Key), Value: string(m.Value), Headers: h}
	}
	last := got[at{0, int64(len(sent))}]
	if last.Key != "writer" || last.Value != "last" {
		t.Errorf("writer's record: got %+v", last)
	}
	delete(got, at{0, int64(len(sent))})
	compare(t, sent, got)
}
