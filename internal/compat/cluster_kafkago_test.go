package compat

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"
)

// TestClusterKafkaGo runs kafka-go's Writer (acks=all, records spread over
// the partitions) and a Reader in a consumer group against three nodes,
// through the controlled shutdown of one partition's leader.
func TestClusterKafkaGo(t *testing.T) {
	c := startCluster(t)
	const topic, group = "kafkago-cluster", "kafkago-cluster-g"
	createReplicatedTopic(t, c, topic, 3)

	// kafka-go refreshes its metadata on a timer only (6 s by default);
	// a shorter one lets the Writer's retries find a new leader within
	// the test's time.
	transport := &kafka.Transport{MetadataTTL: 500 * time.Millisecond}
	w := &kafka.Writer{Addr: kafka.TCP(c.Bootstrap()...), Topic: topic, RequiredAcks: kafka.RequireAll,
		Balancer: &kafka.Hash{}, BatchTimeout: 5 * time.Millisecond, Transport: transport,
		MaxAttempts: 20, WriteBackoffMin: 50 * time.Millisecond, WriteBackoffMax: 500 * time.Millisecond}
	defer w.Close()
	cl := &kafkaGoClient{bootstrap: c.Bootstrap(), topic: topic, group: group, writer: w}
	w.Completion = cl.completed
	runFailover(t, c, topic, group, cl, false)
}

type kafkaGoClient struct {
	bootstrap    []string
	topic, group string
	writer       *kafka.Writer

	mu    sync.Mutex
	acked map[string]at // value -> where it was acknowledged
}

// completed is the Writer's Completion: each partition's writer calls it,
// concurrently, before WriteMessages returns, with the messages' partition
// and offset set.
func (k *kafkaGoClient) completed(msgs []kafka.Message, err error) {
	if err != nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, m := range msgs {
		k.acked[string(m.Value)] = at{int32(m.Partition), m.Offset}
	}
}

func (k *kafkaGoClient) produce(t *testing.T, msgs []message) []at {
	t.Helper()
	k.mu.Lock()
	k.acked = map[string]at{}
	k.mu.Unlock()
	kms := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		kms[i] = kafka.Message{Key: []byte(m.Key), Value: []byte(m.Value)}
		for hk, hv := range m.Headers {
			kms[i].Headers = append(kms[i].Headers, kafka.Header{Key: hk, Value: []byte(hv)})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := k.writer.WriteMessages(ctx, kms...); err != nil {
		t.Fatalf("write: %v", err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]at, len(msgs))
	for i, m := range msgs {
		pos, ok := k.acked[m.Value]
		if !ok {
			t.Fatalf("no acknowledgement reported for %q", m.Value)
		}
		out[i] = pos
	}
	return out
}

func (k *kafkaGoClient) consume(ctx context.Context, t *testing.T, got func(at, message)) {
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: k.bootstrap, GroupID: k.group, Topic: k.topic,
		StartOffset: kafka.FirstOffset, MaxWait: 200 * time.Millisecond, CommitInterval: 100 * time.Millisecond,
		HeartbeatInterval: 300 * time.Millisecond, SessionTimeout: 6 * time.Second, RebalanceTimeout: 6 * time.Second,
		JoinGroupBackoff: 200 * time.Millisecond, ReadBackoffMin: 50 * time.Millisecond, ReadBackoffMax: 200 * time.Millisecond})
	defer r.Close()
	for {
		m, err := r.ReadMessage(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if errors.Is(err, kafka.ErrGroupClosed) {
				return
			}
			t.Logf("read: %v", err)
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond): // a backoff, not a wait for state
			}
			continue
		}
		hdrs := map[string]string{}
		for _, h := range m.Headers {
			hdrs[h.Key] = string(h.Value)
		}
		got(at{int32(m.Partition), m.Offset}, message{Key: string(m.Key), Value: string(m.Value), Headers: hdrs})
	}
}
