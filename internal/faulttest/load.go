package faulttest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// CreateTopic creates topic with partitions partitions of
// replicationFactor replicas (and the configs given) through any node,
// retrying while the cluster is still forming, and waits until every
// partition has a leader and a full ISR.
func (c *Cluster) CreateTopic(topic string, partitions int32, replicationFactor int16, configs map[string]*string) []PartitionState {
	c.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...))
	if err != nil {
		c.t.Fatalf("faulttest: %v", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	c.WaitFor(30*time.Second, topic, "creating topic "+topic, func(ctx context.Context) bool {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		resp, err := adm.CreateTopic(ctx, partitions, replicationFactor, configs, topic)
		if err == nil {
			err = resp.Err
		}
		return err == nil || errors.Is(err, kerr.TopicAlreadyExists)
	})
	return c.WaitPartitions(30*time.Second, topic, "a leader and a full ISR for every partition of "+topic, FullISR)
}

// Producer writes distinct values ("k-<seq>") round-robin over a topic's
// partitions with acks=all and an idempotent franz-go producer, at a
// steady pace, and records every outcome in a History.
type Producer struct {
	History *History
	cl      *kgo.Client
	cancel  context.CancelFunc
	done    chan struct{}
	stop    sync.Once
}

// ProducerInterval is the pace of a Producer: one record per interval,
// a few hundred a second, enough to keep every partition busy through a
// fault without the history growing past what a check reads in a second.
const ProducerInterval = 2 * time.Millisecond

// producerDeliveryTimeout bounds how long a record may wait for its
// acknowledgement (across retries): long enough to ride out a leader
// election, short enough that a stuck write shows up as a failure.
const producerDeliveryTimeout = 20 * time.Second

// StartProducer starts producing to every partition of topic. Stop it
// before checking the history.
func (c *Cluster) StartProducer(topic string, partitions int32) *Producer {
	c.t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(c.Bootstrap()...),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0),
		kgo.MaxBufferedRecords(1000),
		kgo.RecordRetries(1<<30),
		kgo.RecordDeliveryTimeout(producerDeliveryTimeout),
		kgo.ProduceRequestTimeout(5*time.Second),
		kgo.MetadataMinAge(100*time.Millisecond),
		kgo.MetadataMaxAge(2*time.Second),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
	)
	if err != nil {
		c.t.Fatalf("faulttest: producer: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Producer{History: NewHistory(), cl: cl, cancel: cancel, done: make(chan struct{})}
	go p.run(ctx, topic, partitions)
	return p
}

func (p *Producer) run(ctx context.Context, topic string, partitions int32) {
	defer close(p.done)
	tick := time.NewTicker(ProducerInterval)
	defer tick.Stop()
	for seq := 0; ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		value := fmt.Sprintf("k-%d", seq)
		r := &kgo.Record{Topic: topic, Partition: int32(seq) % partitions, Value: []byte(value)}
		// TryProduce refuses at once while MaxBufferedRecords wait (the
		// cluster cannot take writes): the pace drops, and Stop never
		// waits on a blocked Produce. The record's context is not the
		// loop's, so Stop lets buffered records finish instead of
		// cancelling them.
		p.cl.TryProduce(context.Background(), r, func(r *kgo.Record, err error) {
			switch {
			case errors.Is(err, kgo.ErrMaxBuffered):
				p.History.Refused()
			case err != nil:
				p.History.Attempt()
				p.History.Failed(err)
			default:
				p.History.Attempt()
				p.History.Acked(Ack{Partition: r.Partition, Offset: r.Offset, Value: value})
			}
		})
	}
}

// Stop stops producing, waits (bounded) for the records in flight to be
// acknowledged or failed, and closes the client.
// It may be called more than once.
func (p *Producer) Stop() {
	p.stop.Do(func() {
		p.cancel()
		<-p.done
		ctx, cancel := context.WithTimeout(context.Background(), producerDeliveryTimeout+5*time.Second)
		defer cancel()
		p.cl.Flush(ctx)
		p.cl.Close() // fails whatever Flush did not finish
	})
}

// WaitAcks waits until the history holds n more acknowledgements than it
// did at from (AckCount before a fault).
func (c *Cluster) WaitAcks(p *Producer, topic string, from, n int, timeout time.Duration, what string) {
	c.t.Helper()
	c.WaitFor(timeout, topic, fmt.Sprintf("%d acknowledged records %s (history: %v)", n, what, p.History), func(context.Context) bool {
		return p.History.AckCount() >= from+n
	})
}
