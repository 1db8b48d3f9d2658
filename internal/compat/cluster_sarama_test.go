package compat

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// TestClusterSarama runs Sarama's idempotent acks=all SyncProducer and its
// ConsumerGroup against three nodes, through the controlled shutdown of
// the node that coordinates the group and leads one partition.
func TestClusterSarama(t *testing.T) {
	c := startCluster(t)
	const topic, group = "sarama-cluster", "sarama-cluster-g"
	createReplicatedTopic(t, c, topic, 3)

	cfg := saramaConfig()
	cfg.Producer.Retry.Max = 20
	cfg.Producer.Retry.Backoff = 100 * time.Millisecond
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Retry.Backoff = 200 * time.Millisecond // from 2 s: a moved partition is found again sooner
	cfg.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
	cfg.Consumer.Group.Heartbeat.Interval = 300 * time.Millisecond
	cfg.Consumer.Group.Rebalance.Retry.Backoff = 100 * time.Millisecond
	p, err := sarama.NewSyncProducer(c.Bootstrap(), cfg)
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	defer p.Close()
	runFailover(t, c, topic, group, &saramaClient{bootstrap: c.Bootstrap(), topic: topic, group: group, cfg: cfg, producer: p}, true)
}

type saramaClient struct {
	bootstrap    []string
	topic, group string
	cfg          *sarama.Config
	producer     sarama.SyncProducer
}

func (s *saramaClient) produce(t *testing.T, msgs []message) []at {
	t.Helper()
	pms := make([]*sarama.ProducerMessage, len(msgs))
	for i, m := range msgs {
		pms[i] = &sarama.ProducerMessage{Topic: s.topic, Key: sarama.StringEncoder(m.Key), Value: sarama.StringEncoder(m.Value)}
		for k, v := range m.Headers {
			pms[i].Headers = append(pms[i].Headers, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
		}
	}
	if err := s.producer.SendMessages(pms); err != nil {
		t.Fatalf("send: %v", err)
	}
	out := make([]at, len(pms))
	for i, pm := range pms {
		out[i] = at{pm.Partition, pm.Offset}
	}
	return out
}

func (s *saramaClient) consume(ctx context.Context, t *testing.T, got func(at, message)) {
	g, err := sarama.NewConsumerGroup(s.bootstrap, s.group, s.cfg)
	if err != nil {
		t.Errorf("consumer group: %v", err)
		return
	}
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		// Errors must be drained; Sarama retries, so they are only logged
		// (a record that never arrives fails the test).
		for err := range g.Errors() {
			t.Logf("consumer group: %v", err)
		}
	}()
	defer func() {
		g.Close() // closes Errors
		<-drained
	}()
	for ctx.Err() == nil {
		// Consume returns at every rebalance; a member calls it again.
		if err := g.Consume(ctx, []string{s.topic}, saramaHandler(got)); err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) {
			t.Logf("consume: %v", err)
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond): // a backoff, not a wait for state
			}
		}
	}
}

// saramaHandler hands every claimed record to got and marks it consumed.
type saramaHandler func(at, message)

func (saramaHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h saramaHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			hdrs := map[string]string{}
			for _, rh := range m.Headers {
				hdrs[string(rh.Key)] = string(rh.Value)
			}
			h(at{m.Partition, m.Offset}, message{Key: string(m.Key), Value: string(m.Value), Headers: hdrs})
			sess.MarkMessage(m, "")
		case <-sess.Context().Done():
			return nil
		}
	}
}
