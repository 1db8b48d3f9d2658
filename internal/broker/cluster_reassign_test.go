package broker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/clustertest"
	"github.com/gregor-log/gregor/internal/metadata"
	"github.com/gregor-log/gregor/internal/testbroker"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// createAssigned creates topic with one partition on replicas (the first
// the preferred leader) and min.insync.replicas=2 (1 with one replica).
func createAssigned(t testing.TB, c *clustertest.Cluster, topic string, replicas ...int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Partition, ra.Replicas = 0, replicas
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	cfg := kmsg.NewCreateTopicsRequestTopicConfig()
	cfg.Name, cfg.Value = "min.insync.replicas", kmsg.StringPtr(fmt.Sprint(min(2, len(replicas))))
	rt.Configs = append(rt.Configs, cfg)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, c.Client(t))
	if err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("CreateTopics: %v / %+v", err, resp)
	}
	clustertest.WaitFor(t, 30*time.Second, "the partition of "+topic, func() bool {
		p := partitionState(c, topic)
		return len(p.ISR) == len(replicas) && p.Leader == replicas[0]
	})
}

// setClusterDefault sets (value not nil) or deletes a cluster-wide dynamic
// broker config through whichever node is the active controller, and
// waits for every live node to apply it.
func setClusterDefault(t *testing.T, c *clustertest.Cluster, name string, value *string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType = kmsg.ConfigResourceTypeBroker // resource "": the cluster default
	cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	cfg.Name, cfg.Value = name, value
	if value == nil {
		cfg.Op = kmsg.IncrementalAlterConfigOpDelete
	}
	res.Configs = append(res.Configs, cfg)
	req.Resources = append(req.Resources, res)
	clustertest.WaitFor(t, 30*time.Second, "the active controller to record "+name, func() bool {
		for _, n := range c.Live() {
			resp, err := req.RequestWith(ctx, c.Client(t, kgo.SeedBrokers(n.Addr)).Broker(int(n.ID)))
			if err == nil && resp.Resources[0].ErrorCode == 0 {
				return true
			}
		}
		return false
	})
	for _, n := range c.Live() {
		clustertest.WaitFor(t, 30*time.Second, name+" on every node", func() bool {
			v, ok := n.Config.Dynamic().Cluster[name]
			return value == nil && !ok || value != nil && ok && v == *value
		})
	}
}

// segmentsOf is the bytes of partition 0's segment files of topic on node.
func segmentsOf(n *clustertest.Node, topic string) []byte {
	files, _ := filepath.Glob(filepath.Join(n.Dir, topic+"-0", "*.log"))
	slices.Sort(files)
	var all []byte
	for _, f := range files {
		b, _ := os.ReadFile(f)
		all = append(all, b...)
	}
	return all
}

// ackedProducer returns a function that produces records from..to-1
// (numbered values padded with pad) to topic with acks=all, one at a time,
// and the map of acknowledged offsets to values it fills.
func ackedProducer(ctx context.Context, t *testing.T, c *clustertest.Cluster, topic, pad string) (func(from, to int), map[int64]string) {
	acked := map[int64]string{}
	cl := c.Client(t, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(100))
	return func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			v := fmt.Sprintf("record-%d-%s", i, strings.Repeat(pad, 100))
			r, err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}).First()
			if err != nil {
				t.Fatalf("produce %d: %v", i, err)
			}
			acked[r.Offset] = v
		}
	}, acked
}

// A partition moves from brokers {1,2,3} to {2,3,4} under acks=all
// produces, with kadm as the operator's tool. The copy to 4 is throttled
// (follower.replication.throttled.rate) to a crawl, so the reassignment
// is seen in progress and stays so while records keep coming; lifting the
// throttle lets it complete. Then every acknowledged record reads back
// from the new replicas, node 1's replica is gone from its disk, and node
// 4's log is byte-identical to the others'.
func TestClusterReassignment(t *testing.T) {
	c := clustertest.Start(t, 4, nil)
	c.WaitForBrokers(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const topic = "moving"
	createAssigned(t, c, topic, 1, 2, 3)

	produce, acked := ackedProducer(ctx, t, c, topic, "x")
	produce(0, 100)

	// One byte per second: node 4 gets one batch, then owes the bucket
	// for minutes.
	setClusterDefault(t, c, "follower.replication.throttled.rate", kmsg.StringPtr("1"))
	adm := c.Admin(t)
	var req kadm.AlterPartitionAssignmentsReq
	req.Assign(topic, 0, []int32{2, 3, 4})
	resp, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil || resp.Error() != nil {
		t.Fatalf("AlterPartitionAssignments: %v / %v", err, resp.Error())
	}
	moving := kadm.TopicsSet{topic: {0: {}}}
	list, err := adm.ListPartitionReassignments(ctx, moving)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := list[topic][0]
	if !ok || !slices.Equal(got.Replicas, []int32{2, 3, 4, 1}) || !slices.Equal(got.AddingReplicas, []int32{4}) ||
		!slices.Equal(got.RemovingReplicas, []int32{1}) {
		t.Fatalf("ListPartitionReassignments: %+v; image %+v", list, partitionState(c, topic))
	}
	all, err := kmsg.NewPtrListPartitionReassignmentsRequest().RequestWith(ctx, c.Client(t)) // null topics: all
	if err != nil || len(all.Topics) != 1 || all.Topics[0].Topic != topic || len(all.Topics[0].Partitions) != 1 {
		t.Fatalf("all reassignments: %+v %v", all, err)
	}
	produce(100, 200) // acks=all during the move: the ISR is still {1,2,3}
	if p := partitionState(c, topic); !p.Reassigning() || slices.Contains(p.ISR, 4) {
		t.Fatalf("the throttled copy caught up: %+v", p)
	}
	if n4, n2 := len(segmentsOf(c.Node(4), topic)), len(segmentsOf(c.Node(2), topic)); n4 >= n2 {
		t.Fatalf("node 4 has %d bytes of node 2's %d under a throttle of 1 B/s", n4, n2)
	}

	setClusterDefault(t, c, "follower.replication.throttled.rate", nil)
	waitForPartition(t, c, topic, func(p metadata.Partition) bool {
		return !p.Reassigning() && slices.Equal(p.Replicas, []int32{2, 3, 4}) && p.Leader > 1
	})
	if p := partitionState(c, topic); !slices.Contains(p.ISR, 4) || slices.Contains(p.ISR, 1) {
		t.Fatalf("after the move: %+v", p)
	}
	produce(200, 250)
	checkAcked(t, c, topic, acked)
	clustertest.WaitFor(t, 30*time.Second, "node 1 to delete its replica", func() bool {
		_, err := os.Stat(filepath.Join(c.Node(1).Dir, topic+"-0"))
		return errors.Is(err, os.ErrNotExist)
	})
	clustertest.WaitFor(t, 30*time.Second, "byte-identical new replicas", func() bool {
		first := segmentsOf(c.Node(2), topic)
		return len(first) > 0 && bytes.Equal(first, segmentsOf(c.Node(3), topic)) && bytes.Equal(first, segmentsOf(c.Node(4), topic))
	})
	if list, err := adm.ListPartitionReassignments(ctx, moving); err != nil || len(list) != 0 {
		t.Fatalf("reassignments left: %+v %v", list, err)
	}
	// Null topics: every partition's (kadm does not send that).
	if all, err := kmsg.NewPtrListPartitionReassignmentsRequest().RequestWith(ctx, c.Client(t)); err != nil || all.ErrorCode != 0 || len(all.Topics) != 0 {
		t.Fatalf("all reassignments: %+v %v", all, err)
	}

	// Errors, and NOT_CONTROLLER from a node that is not the controller.
	var bad kadm.AlterPartitionAssignmentsReq
	bad.Assign(topic, 0, []int32{2, 3, 9})
	bad.Assign("no-such-topic", 0, []int32{1})
	bad.CancelAssign(topic, 1)
	resp, err = adm.AlterPartitionAssignments(ctx, bad)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct {
		topic     string
		partition int32
		err       error
	}{{topic, 0, kerr.InvalidReplicaAssignment}, {"no-such-topic", 0, kerr.UnknownTopicOrPartition}, {topic, 1, kerr.UnknownTopicOrPartition}} {
		if r := resp[want.topic][want.partition]; !errors.Is(r.Err, want.err) {
			t.Errorf("%s-%d: %v, want %v", want.topic, want.partition, r.Err, want.err)
		}
	}
	ctl := seedRequest(t, c.Nodes[0].Addr, kmsg.NewPtrMetadataRequest()).(*kmsg.MetadataResponse).ControllerID
	for _, n := range c.Live() {
		if n.ID == ctl {
			continue
		}
		raw := kmsg.NewPtrListPartitionReassignmentsRequest()
		// Another node forwards it to the controller (KIP-590).
		if r := seedRequest(t, n.Addr, raw).(*kmsg.ListPartitionReassignmentsResponse); r.ErrorCode != 0 {
			t.Fatalf("node %d (controller %d) answered ListPartitionReassignments with %v", n.ID, ctl, kerr.ErrorForCode(r.ErrorCode))
		}
		break
	}
}

// A broker comes back after a crash: once it is in the ISR again, the
// controller's automatic rebalancing (leader.imbalance.check.interval.
// seconds shortened to 1) gives it back the leadership it prefers, with
// no ElectLeaders from anyone.
func TestClusterAutoLeaderRebalance(t *testing.T) {
	c := clustertest.Start(t, 3, map[string]string{"leader.imbalance.check.interval.seconds": "1"})
	c.WaitForBrokers(t, 3)
	const topic = "rebalanced"
	createAssigned(t, c, topic, 1, 2, 3)
	c.Node(1).Close()
	waitForPartition(t, c, topic, func(p metadata.Partition) bool { return p.Leader > 1 && !slices.Contains(p.ISR, 1) })
	epoch := partitionState(c, topic).LeaderEpoch
	c.Node(1).Restart(t)
	waitForPartition(t, c, topic, func(p metadata.Partition) bool { return p.Leader == 1 && p.LeaderEpoch > epoch })
}

// A single node answers both APIs as its own controller: its only
// possible target is itself.
func TestSingleNodeReassignments(t *testing.T) {
	b := testbroker.Start(t, nil)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if resp, err := adm.CreateTopic(ctx, 1, 1, nil, "solo"); err != nil || resp.Err != nil {
		t.Fatalf("CreateTopic: %v / %v", err, resp.Err)
	}
	var req kadm.AlterPartitionAssignmentsReq
	req.Assign("solo", 0, []int32{1})
	if resp, err := adm.AlterPartitionAssignments(ctx, req); err != nil || resp.Error() != nil {
		t.Fatalf("reassign to itself: %v / %v", err, resp.Error())
	}
	req = kadm.AlterPartitionAssignmentsReq{}
	req.Assign("solo", 0, []int32{2})
	if resp, err := adm.AlterPartitionAssignments(ctx, req); err != nil || !errors.Is(resp["solo"][0].Err, kerr.InvalidReplicaAssignment) {
		t.Fatalf("reassign to another broker: %v / %+v", err, resp)
	}
	// v1 (KIP-860): a client may forbid replication factor changes.
	req = kadm.AlterPartitionAssignmentsReq{}
	req.Assign("solo", 0, []int32{1, 2})
	if resp, err := adm.AlterPartitionAssignments(kadm.ForbidAlterRf(ctx), req); err != nil || !errors.Is(resp["solo"][0].Err, kerr.InvalidReplicationFactor) {
		t.Fatalf("forbidden replication factor change: %v / %+v", err, resp)
	}
	req = kadm.AlterPartitionAssignmentsReq{}
	req.CancelAssign("solo", 0)
	if resp, err := adm.AlterPartitionAssignments(ctx, req); err != nil || !errors.Is(resp["solo"][0].Err, kerr.NoReassignmentInProgress) {
		t.Fatalf("cancel: %v / %+v", err, resp)
	}
	if list, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{"solo": {0: {}}}); err != nil || len(list) != 0 {
		t.Fatalf("list: %+v %v", list, err)
	}
}

// A replica moved away while its broker was down is deleted when the
// broker comes back and sees the image without it.
func TestClusterReassignmentAwayFromADownBroker(t *testing.T) {
	c := clustertest.Start(t, 4, nil)
	c.WaitForBrokers(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const topic = "left-behind"
	createAssigned(t, c, topic, 1, 2, 3)
	cl := c.Client(t, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(100))
	acked := map[int64]string{}
	for i := range 20 {
		v := fmt.Sprintf("record-%d", i)
		r, err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}).First()
		if err != nil {
			t.Fatal(err)
		}
		acked[r.Offset] = v
	}
	dir := filepath.Join(c.Node(1).Dir, topic+"-0")
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
	c.Node(1).Close()
	waitForPartition(t, c, topic, func(p metadata.Partition) bool { return p.Leader > 1 && !slices.Contains(p.ISR, 1) })
	var req kadm.AlterPartitionAssignmentsReq
	req.Assign(topic, 0, []int32{2, 3, 4})
	if resp, err := c.Admin(t, kgo.RetryTimeout(30*time.Second)).AlterPartitionAssignments(ctx, req); err != nil || resp.Error() != nil {
		t.Fatalf("AlterPartitionAssignments: %v / %v", err, resp.Error())
	}
	waitForPartition(t, c, topic, func(p metadata.Partition) bool {
		return !p.Reassigning() && slices.Equal(p.Replicas, []int32{2, 3, 4}) && len(p.ISR) == 3
	})
	c.Node(1).Restart(t)
	clustertest.WaitFor(t, 30*time.Second, "node 1 to delete the replica it no longer hosts", func() bool {
		_, err := os.Stat(dir)
		return errors.Is(err, os.ErrNotExist)
	})
	checkAcked(t, c, topic, acked)
}
