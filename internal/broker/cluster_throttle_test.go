package broker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/clustertest"
	"github.com/gregor-log/gregor/internal/config"
	"github.com/gregor-log/gregor/internal/metadata"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// setTopicConfig sets (value) or deletes (nil) one topic config
// (IncrementalAlterConfigs) and waits until every live node's image has it.
func setTopicConfig(t *testing.T, c *clustertest.Cluster, topic, name string, value *string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	cfg.Name, cfg.Value = name, value
	if value == nil {
		cfg.Op = kmsg.IncrementalAlterConfigOpDelete
	}
	res.Configs = append(res.Configs, cfg)
	req.Resources = append(req.Resources, res)
	// Any node takes it: the active controller records it, the others
	// forward it there (KIP-590). Retried while a controller is elected.
	clustertest.WaitFor(t, 30*time.Second, "the active controller to record "+name, func() bool {
		n := c.Live()[0]
		resp, err := req.RequestWith(ctx, c.Client(t, kgo.SeedBrokers(n.Addr)).Broker(int(n.ID)))
		return err == nil && resp.Resources[0].ErrorCode == 0
	})
	for _, n := range c.Live() {
		clustertest.WaitFor(t, 30*time.Second, name+" on node "+fmt.Sprint(n.ID), func() bool {
			mt, ok := n.MetadataImage().Topic(topic)
			v, set := mt.Configs[name]
			return ok && (value == nil && !set || value != nil && set && v == *value)
		})
	}
}

// Kafka's leader-side throttle: a partition moves from {1,2,3} to
// {2,3,4} while its leader, node 1, sends the throttled replicas at most
// 1 B/s (leader.replication.throttled.rate, leader.replication.throttled.
// replicas="*") and the follower side is unlimited. The new replica stays
// behind while the in-sync followers keep acks=all produces going and a
// consumer reads every record from the leader at full speed; clearing the
// list lets the move complete with identical data.
func TestClusterLeaderThrottle(t *testing.T) {
	c := clustertest.Start(t, 4, nil)
	c.WaitForBrokers(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const topic = "leader-throttled"
	createAssigned(t, c, topic, 1, 2, 3)

	produce, acked := ackedProducer(ctx, t, c, topic, "y")
	produce(0, 100)

	// One byte per second on the leader: node 4 gets one batch, then the
	// bucket owes more than a minute.
	setClusterDefault(t, c, "leader.replication.throttled.rate", kmsg.StringPtr("1"))
	setTopicConfig(t, c, topic, config.LeaderThrottledReplicas, kmsg.StringPtr("*"))

	adm := c.Admin(t)
	var req kadm.AlterPartitionAssignmentsReq
	req.Assign(topic, 0, []int32{2, 3, 4})
	if resp, err := adm.AlterPartitionAssignments(ctx, req); err != nil || resp.Error() != nil {
		t.Fatalf("AlterPartitionAssignments: %v / %v", err, resp.Error())
	}
	produce(100, 200) // the in-sync followers 2 and 3 are not held
	// A consumer reads everything from the leader while node 4 is held.
	checkAcked(t, c, topic, acked)
	// (The leadership may move to node 2, the preferred replica of the
	// target; "*" and the cluster-wide rate hold node 4 there too.)
	if p := partitionState(c, topic); !p.Reassigning() || slices.Contains(p.ISR, 4) {
		t.Fatalf("the leader-throttled copy caught up: %+v", p)
	}
	if n4, n2 := len(segmentsOf(c.Node(4), topic)), len(segmentsOf(c.Node(2), topic)); n4 >= n2 {
		t.Fatalf("node 4 has %d bytes of node 2's %d under a leader throttle of 1 B/s", n4, n2)
	}

	// Clearing the list lifts the throttle (the rate stays 1 B/s).
	setTopicConfig(t, c, topic, config.LeaderThrottledReplicas, nil)
	waitForPartition(t, c, topic, func(p metadata.Partition) bool {
		return !p.Reassigning() && slices.Equal(p.Replicas, []int32{2, 3, 4}) && p.Leader > 1
	})
	produce(200, 220)
	checkAcked(t, c, topic, acked)
	clustertest.WaitFor(t, 30*time.Second, "byte-identical new replicas", func() bool {
		first := segmentsOf(c.Node(2), topic)
		return len(first) > 0 && bytes.Equal(first, segmentsOf(c.Node(3), topic)) && bytes.Equal(first, segmentsOf(c.Node(4), topic))
	})
}

// follower.replication.throttled.replicas throttles a follower that is
// not being added: node 2's copy of {1,2,3} stalls under a 1 B/s follower
// rate once the list names "0:2", while node 3, not listed, keeps up; it
// catches up, byte-identical, once the list is cleared (a topic config
// change, no restart, no role change).
func TestClusterFollowerThrottledReplicas(t *testing.T) {
	c := clustertest.Start(t, 3, nil)
	c.WaitForBrokers(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const topic = "follower-throttled"
	createAssigned(t, c, topic, 1, 2, 3)

	cl := c.Client(t, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	produce := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			v := fmt.Sprintf("record-%d-%s", i, strings.Repeat("z", 100))
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatalf("produce %d: %v", i, err)
			}
		}
	}
	produce(0, 10)
	clustertest.WaitFor(t, 30*time.Second, "node 2 to copy the first records", func() bool {
		return bytes.Equal(segmentsOf(c.Node(1), topic), segmentsOf(c.Node(2), topic))
	})

	setClusterDefault(t, c, "follower.replication.throttled.rate", kmsg.StringPtr("1"))
	setTopicConfig(t, c, topic, config.FollowerThrottledReplicas, kmsg.StringPtr("0:2"))
	waitFollowerListsApplied(t, c.Node(2), topic, "0:2")
	produce(10, 100)
	clustertest.WaitFor(t, 30*time.Second, "node 3 to copy everything", func() bool {
		return bytes.Equal(segmentsOf(c.Node(1), topic), segmentsOf(c.Node(3), topic))
	})
	// At 1 B/s node 2 takes at most one more batch (its bucket's one
	// token) before it owes more than a minute.
	if n2, n1 := len(segmentsOf(c.Node(2), topic)), len(segmentsOf(c.Node(1), topic)); n2 >= n1 {
		t.Fatalf("node 2 has %d bytes of node 1's %d under a follower throttle of 1 B/s", n2, n1)
	}

	setTopicConfig(t, c, topic, config.FollowerThrottledReplicas, nil)
	waitFollowerListsApplied(t, c.Node(2), topic, "")
	clustertest.WaitFor(t, 30*time.Second, "node 2 to catch up", func() bool {
		return bytes.Equal(segmentsOf(c.Node(1), topic), segmentsOf(c.Node(2), topic))
	})
}

// waitFollowerListsApplied waits until node has re-marked its followed
// partitions for topic's follower list value ("": none).
func waitFollowerListsApplied(t *testing.T, n *clustertest.Node, topic, value string) {
	t.Helper()
	clustertest.WaitFor(t, 30*time.Second, "node "+fmt.Sprint(n.ID)+" to apply the follower list", func() bool {
		mt, ok := n.MetadataImage().Topic(topic)
		return ok && n.AppliedFollowerThrottleList(mt.ID) == value
	})
}

// The three configs are described with their defaults and sources, set
// with kadm, and a bad list is refused with INVALID_CONFIG by CreateTopics
// and AlterConfigs (incremental or not).
func TestReplicationThrottleConfigsDescribed(t *testing.T) {
	c := clustertest.Start(t, 1, nil)
	c.WaitForBrokers(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := c.Admin(t)
	const topic = "described"
	if resp, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{config.FollowerThrottledReplicas: kmsg.StringPtr(" 0:1 ")}, topic); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	describe := func() map[string]kadm.Config {
		t.Helper()
		rcs, err := adm.DescribeTopicConfigs(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := rcs.On(topic, nil)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]kadm.Config{}
		for _, cfg := range rc.Configs {
			out[cfg.Key] = cfg
		}
		return out
	}
	got := describe()
	if l := got[config.LeaderThrottledReplicas]; l.MaybeValue() != "" || l.Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("%s: %+v", config.LeaderThrottledReplicas, l)
	}
	if f := got[config.FollowerThrottledReplicas]; f.MaybeValue() != "0:1" || f.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Errorf("%s: %+v", config.FollowerThrottledReplicas, f)
	}

	resp, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: config.LeaderThrottledReplicas, Value: kmsg.StringPtr("0:1,1:1")}}, topic)
	if err != nil || resp[0].Err != nil {
		t.Fatalf("AlterTopicConfigs: %v %+v", err, resp)
	}
	if l := describe()[config.LeaderThrottledReplicas]; l.MaybeValue() != "0:1,1:1" {
		t.Errorf("after AlterTopicConfigs: %+v", l)
	}

	for _, bad := range []string{"0", "1:x", "*,0:1", "-1:1"} {
		resp, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: config.LeaderThrottledReplicas, Value: kmsg.StringPtr(bad)}}, topic)
		if err != nil || !errors.Is(resp[0].Err, kerr.InvalidConfig) {
			t.Errorf("incremental %q: %v %+v", bad, err, resp)
		}
		state, err := adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: config.FollowerThrottledReplicas, Value: kmsg.StringPtr(bad)}}, topic)
		if err != nil || !errors.Is(state[0].Err, kerr.InvalidConfig) {
			t.Errorf("AlterConfigs %q: %v %+v", bad, err, state)
		}
		cr, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{config.LeaderThrottledReplicas: kmsg.StringPtr(bad)}, "bad-list")
		if !errors.Is(err, kerr.InvalidConfig) || !errors.Is(cr.Err, kerr.InvalidConfig) {
			t.Errorf("CreateTopics %q: %v %+v", bad, err, cr)
		}
	}

	rcs, err := adm.DescribeBrokerConfigs(ctx, 1)
	if err != nil || len(rcs) != 1 {
		t.Fatalf("describe broker: %v %+v", err, rcs)
	}
	var rate *kadm.Config
	for i, cfg := range rcs[0].Configs {
		if cfg.Key == "leader.replication.throttled.rate" {
			rate = &rcs[0].Configs[i]
		}
	}
	if rate == nil || rate.MaybeValue() != "9223372036854775807" {
		t.Fatalf("leader.replication.throttled.rate: %+v", rate)
	}
	for _, v := range []string{"0", "x"} {
		resp, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "leader.replication.throttled.rate", Value: kmsg.StringPtr(v)}})
		if err != nil || !errors.Is(resp[0].Err, kerr.InvalidConfig) {
			t.Errorf("leader.replication.throttled.rate=%s: %v %+v", v, err, resp)
		}
	}
}
