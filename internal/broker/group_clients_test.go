package broker_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	kafka "github.com/segmentio/kafka-go"
)

// Other clients' group consumers against the coordinator: Sarama's
// ConsumerGroup at several protocol versions and kafka-go's Reader with a
// GroupID. (The lead's compat suite covers them more broadly.)

type saramaHandler struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (h *saramaHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.mu.Lock()
		h.seen[string(m.Value)] = true
		h.mu.Unlock()
		s.MarkMessage(m, "")
	}
	return nil
}

func TestGroupSaramaAndKafkaGo(t *testing.T) {
	b := groupBroker(t)
	groupProduce(t, b, "sar", 3, 0, 30)
	for _, v := range []sarama.KafkaVersion{sarama.V2_1_0_0, sarama.V2_3_0_0, sarama.V3_6_0_0} {
		cfg := sarama.NewConfig()
		cfg.Version = v
		cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
		cfg.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
		grp := "sg-" + v.String()
		cg, err := sarama.NewConsumerGroup([]string{b.Addr}, grp, cfg)
		if err != nil {
			t.Fatal(err)
		}
		h := &saramaHandler{seen: map[string]bool{}}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		go func() {
			for ctx.Err() == nil {
				if err := cg.Consume(ctx, []string{"sar"}, h); err != nil {
					t.Logf("consume: %v", err)
				}
			}
		}()
		for {
			h.mu.Lock()
			n := len(h.seen)
			h.mu.Unlock()
			if n == 30 {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("sarama %v read %d", v, n)
			}
			time.Sleep(10 * time.Millisecond) // sampling a condition, with a deadline
		}
		cancel()
		cg.Close()
		// Close committed the marked offsets: 10 per partition.
		offs, err := b.Admin(t).FetchOffsets(context.Background(), grp)
		if err != nil {
			t.Fatal(err)
		}
		var sum int64
		for _, ps := range offs {
			for _, o := range ps {
				sum += o.At
			}
		}
		if sum != 30 {
			t.Fatalf("sarama %v: committed offsets sum to %d, want 30", v, sum)
		}
	}

	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{b.Addr}, GroupID: "kgo-reader", Topic: "sar", MaxWait: 100 * time.Millisecond, CommitInterval: 0})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 0; i < 30; i++ {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("kafka-go after %d: %v", i, err)
		}
		if err := r.CommitMessages(ctx, m); err != nil {
			t.Fatalf("kafka-go commit: %v", err)
		}
	}
}
