package broker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/clustertest"
	"github.com/gregor-log/gregor/internal/group"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// In a three-node cluster the group coordinator is the leader of the
// group's partition of __consumer_offsets. A consumer group consumes and
// commits; the node coordinating it dies; a new leader of that partition
// loads the group, and a new member resumes from the committed offset:
// nothing before the last commit is delivered again, and commits go on.
func TestClusterGroupCoordinatorFollowsOffsetsLeader(t *testing.T) {
	const offsetsPartitions = 3
	// offsets.topic.replication.factor is left unset: a cluster of three
	// voters must create __consumer_offsets with three replicas by itself.
	c := clustertest.Start(t, 3, map[string]string{
		"offsets.topic.num.partitions":     fmt.Sprint(offsetsPartitions),
		"group.initial.rebalance.delay.ms": "0",
	})
	c.WaitForBrokers(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	const topic, groupID = "events", "failover-group"
	minISR := "2"
	resp, err := c.Admin(t).CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": &minISR}, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("CreateTopic: %v / %v", err, resp.Err)
	}
	producer := c.Client(t, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(100))
	produce := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			r := &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "record-%d", i)}
			if err := producer.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce %d: %v", i, err)
			}
		}
	}
	const firstHalf, total = 40, 80
	produce(0, firstHalf)

	// The first member consumes everything there is and commits it.
	first := c.Client(t, kgo.ConsumerGroup(groupID), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit())
	consumeUpTo(ctx, t, first, 0, firstHalf)
	if err := first.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	first.Close() // leaves the group

	// The commit is on every replica of the group's offsets partition.
	p := group.PartitionFor(groupID, offsetsPartitions)
	offsetsLeader := func() int32 {
		img := c.Image()
		if img == nil {
			return -1
		}
		ot, ok := img.Topic("__consumer_offsets")
		if !ok || int(p) >= len(ot.Partitions) {
			return -1
		}
		mp := ot.Partitions[p]
		if len(mp.ISR) != 3 {
			return -1
		}
		return mp.Leader
	}
	clustertest.WaitFor(t, 30*time.Second, "a leader and a full ISR for the group's offsets partition", func() bool { return offsetsLeader() > 0 })
	old := offsetsLeader()
	waitCoordinator(ctx, t, c, groupID, old)

	c.Node(old).Close()
	clustertest.WaitFor(t, 30*time.Second, "a new leader of the group's offsets partition", func() bool {
		img := c.Image()
		ot, ok := img.Topic("__consumer_offsets")
		return ok && ot.Partitions[p].Leader > 0 && ot.Partitions[p].Leader != old
	})
	waitCoordinator(ctx, t, c, groupID, -old)

	produce(firstHalf, total)
	second := c.Client(t, kgo.ConsumerGroup(groupID), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit())
	consumeUpTo(ctx, t, second, firstHalf, total)
	if err := second.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit on the new coordinator: %v", err)
	}
	offsets, err := kadm.NewClient(second).FetchOffsets(ctx, groupID)
	if err != nil {
		t.Fatalf("FetchOffsets: %v", err)
	}
	if o, ok := offsets.Lookup(topic, 0); !ok || o.At != total {
		t.Fatalf("committed offset after failover = %+v (found %v), want %d", o, ok, total)
	}
}

// consumeUpTo polls cl until it has the records at offsets [from, to) of
// partition 0, failing on any record outside that range: a record before
// from is one delivered again although committed.
func consumeUpTo(ctx context.Context, t *testing.T, cl *kgo.Client, from, to int64) {
	t.Helper()
	next := from
	for next < to {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consuming: at offset %d of %d: %v", next, to, ctx.Err())
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Logf("fetch error %s/%d: %v", topic, p, err)
		})
		for _, r := range fs.Records() {
			if r.Offset != next {
				t.Fatalf("got offset %d, want %d (value %q)", r.Offset, next, r.Value)
			}
			next++
		}
	}
}

// waitCoordinator waits until FindCoordinator answers want for the group
// (or, for want < 0, any node but -want).
func waitCoordinator(ctx context.Context, t *testing.T, c *clustertest.Cluster, groupID string, want int32) {
	t.Helper()
	adm := c.Admin(t)
	clustertest.WaitFor(t, 30*time.Second, fmt.Sprintf("coordinator %d for %s", want, groupID), func() bool {
		rs := adm.FindGroupCoordinators(ctx, groupID)
		r, ok := rs[groupID]
		if !ok || r.Err != nil {
			return false
		}
		if want < 0 {
			return r.NodeID != -want
		}
		return r.NodeID == want
	})
}
