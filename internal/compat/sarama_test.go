package compat

import (
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/gregor-log/gregor/internal/testbroker"
)

func saramaConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.ClientID = "gregor-compat"
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Retry.Max = 5
	cfg.Consumer.Return.Errors = true
	cfg.Metadata.Retry.Backoff = 50 * time.Millisecond
	return cfg
}

// TestSaramaProduceConsume sends keyed records with headers under every
// codec through Sarama's idempotent sync producer, then reads each
// partition back with Sarama's partition consumer.
func TestSaramaProduceConsume(t *testing.T) {
	b := testbroker.Start(t, nil)
	const topic = "sarama-compat"
	createTopic(t, b, topic, 3)

	cfg := saramaConfig()
	sent := map[at]message{}
	codecs := []sarama.CompressionCodec{sarama.CompressionNone, sarama.CompressionGZIP,
		sarama.CompressionSnappy, sarama.CompressionLZ4, sarama.CompressionZSTD}
	for _, codec := range codecs {
		cfg.Producer.Compression = codec
		p, err := sarama.NewSyncProducer([]string{b.Addr}, cfg)
		if err != nil {
			t.Fatalf("producer: %v", err)
		}
		var msgs []*sarama.ProducerMessage
		for i := range 50 {
			msgs = append(msgs, &sarama.ProducerMessage{
				Topic:   topic,
				Key:     sarama.StringEncoder(fmt.Sprintf("%s-%d", codec, i%5)),
				Value:   sarama.StringEncoder(fmt.Sprintf("%s value %d", codec, i)),
				Headers: []sarama.RecordHeader{{Key: []byte("codec"), Value: []byte(codec.String())}},
			})
		}
		if err := p.SendMessages(msgs); err != nil {
			t.Fatalf("send with %s: %v", codec, err)
		}
		for _, m := range msgs {
			k, _ := m.Key.Encode()
			v, _ := m.Value.Encode()
			sent[at{m.Partition, m.Offset}] = message{Key: string(k), Value: string(v),
				Headers: map[string]string{"codec": codec.String()}}
		}
		if err := p.Close(); err != nil {
			t.Fatalf("close producer: %v", err)
		}
	}

	c, err := sarama.NewConsumer([]string{b.Addr}, cfg)
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	defer c.Close()
	want := map[int32]int{}
	for pos := range sent {
		want[pos.Partition]++
	}
	got := map[at]message{}
	for part, n := range want {
		pc, err := c.ConsumePartition(topic, part, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("consume partition %d: %v", part, err)
		}
		deadline := time.After(30 * time.Second)
		for read := 0; read < n; read++ {
			select {
			case m := <-pc.Messages():
				h := map[string]string{}
				for _, rh := range m.Headers {
					h[string(rh.Key)] = string(rh.Value)
				}
				got[at{m.Partition, m.Offset}] = message{Key: string(m.Key), Value: string(m.Value), Headers: h}
			case err := <-pc.Errors():
				t.Fatalf("partition %d: %v", part, err)
			case <-deadline:
				t.Fatalf("partition %d: read %d of %d records before the deadline", part, read, n)
			}
		}
		pc.Close()
	}
	compare(t, sent, got)
}

// TestSaramaAdmin covers Sarama's cluster admin: topic life cycle and
// configs.
func TestSaramaAdmin(t *testing.T) {
	b := testbroker.Start(t, nil)
	adm, err := sarama.NewClusterAdmin([]string{b.Addr}, saramaConfig())
	if err != nil {
		t.Fatalf("admin: %v", err)
	}
	defer adm.Close()
	retention := "3600000"
	err = adm.CreateTopic("sarama-admin", &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"retention.ms": &retention}}, false)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	topics, err := adm.ListTopics()
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if d, ok := topics["sarama-admin"]; !ok || d.NumPartitions != 2 {
		t.Fatalf("list: %+v", topics["sarama-admin"])
	}
	results, err := adm.DescribeConfigs([]*sarama.ConfigResource{{Type: sarama.TopicResource, Name: "sarama-admin"}},
		sarama.DescribeConfigsOptions{IncludeSynonyms: true, IncludeDocumentation: true})
	if err != nil || len(results) != 1 || results[0].ErrorCode != sarama.ErrNoError {
		t.Fatalf("describe configs: %v %+v", err, results)
	}
	entries := results[0].Configs
	found := false
	for _, e := range entries {
		if e.Name == "retention.ms" {
			found = e.Value == retention
		}
	}
	if !found {
		t.Errorf("retention.ms not described as %s: %+v", retention, entries)
	}
	if err := adm.CreatePartitions("sarama-admin", 4, nil, false); err != nil {
		t.Fatalf("create partitions: %v", err)
	}
	if err := adm.DeleteTopic("sarama-admin"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if err := adm.CreateTopic("bad/name", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false); err == nil {
		t.Errorf("topic with an illegal name was created")
	}
}
