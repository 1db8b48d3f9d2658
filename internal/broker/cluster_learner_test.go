package broker_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/broker"
	"github.com/gregor-log/gregor/internal/clustertest"
	"github.com/gregor-log/gregor/internal/config"
	"github.com/gregor-log/gregor/internal/metadata"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Brokers beyond the controller voters are Raft learners
// (cluster_learner.go): they serve data like any broker and are never
// the controller.

// Three voters and two learners: Metadata and DescribeCluster list five
// brokers, a topic with five replicas takes acks=all produces and every
// replica, learners included, ends with the same bytes.
func TestClusterLearnersServeData(t *testing.T) {
	c := clustertest.StartWithLearners(t, 3, 2, nil)
	c.WaitForBrokers(t, 5)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, n := range c.Nodes {
		st, ok := n.QuorumStatus()
		if !ok || st.Learner != n.Learner || !slices.Equal(st.Voters, []int32{1, 2, 3}) {
			t.Fatalf("node %d: quorum status %+v, want learner=%v", n.ID, st, n.Learner)
		}
	}
	checkBrokersListed(t, c, 5)

	const topic = "on-learners"
	minISR := "3"
	resp, err := c.Admin(t).CreateTopic(ctx, 1, 5, map[string]*string{"min.insync.replicas": &minISR}, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("CreateTopic: %v / %v", err, resp.Err)
	}
	waitForPartition(t, c, topic, func(p metadata.Partition) bool { return len(p.ISR) == 5 && p.Leader > 0 })
	acked := produceN(ctx, t, c, topic, 0, 40)
	checkAcked(t, c, topic, acked)
	waitReplicasIdentical(t, c, topic)
	checkNeverLearnerController(t, c)
}

// A fourth broker added to a running cluster with data joins as a
// learner, is listed within a few heartbeats, gets a replica of a new
// topic with four replicas and copies it; restarted, it rejoins from its
// own Raft state and catches up.
func TestClusterAddBroker(t *testing.T) {
	c := clustertest.Start(t, 3, nil)
	c.WaitForBrokers(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := c.Admin(t)
	if resp, err := adm.CreateTopic(ctx, 1, 3, nil, "before"); err != nil || resp.Err != nil {
		t.Fatalf("CreateTopic before: %v / %v", err, resp.Err)
	}
	waitForPartition(t, c, "before", func(p metadata.Partition) bool { return len(p.ISR) == 3 })
	produceN(ctx, t, c, "before", 0, 20)

	// Its Raft listener on every interface: the controller records it
	// at the address the join came from.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	added := c.AddNode(t, map[string]string{"controller.listener": fmt.Sprintf("0.0.0.0:%d", port)})
	c.WaitForLearner(t, added.ID)
	if st, _ := c.Node(1).QuorumStatus(); st.Members[added.ID] != fmt.Sprintf("127.0.0.1:%d", port) {
		t.Fatalf("the quorum has the new broker at %q", st.Members[added.ID])
	}
	c.WaitForBrokers(t, 4)
	if _, ok := added.MetadataImage().Topic("before"); !ok {
		t.Fatal("the new broker's image lacks the topic created before it joined")
	}
	checkBrokersListed(t, c, 4)

	const topic = "after"
	minISR := "2"
	resp, err := adm.CreateTopic(ctx, 1, 4, map[string]*string{"min.insync.replicas": &minISR}, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("CreateTopic: %v / %v", err, resp.Err)
	}
	waitForPartition(t, c, topic, func(p metadata.Partition) bool {
		return len(p.ISR) == 4 && slices.Contains(p.Replicas, added.ID)
	})
	acked := produceN(ctx, t, c, topic, 0, 30)
	checkAcked(t, c, topic, acked)
	waitReplicasIdentical(t, c, topic)

	// Down: the others carry on; created meanwhile, a topic the learner
	// must learn of when it is back.
	added.Close()
	waitForPartition(t, c, topic, func(p metadata.Partition) bool { return len(p.ISR) == 3 })
	for k, v := range produceN(ctx, t, c, topic, 30, 60) {
		acked[k] = v
	}
	if resp, err := adm.CreateTopic(ctx, 1, 3, nil, "while-down"); err != nil || resp.Err != nil {
		t.Fatalf("CreateTopic while down: %v / %v", err, resp.Err)
	}

	added.Restart(t)
	c.WaitForLearner(t, added.ID)
	waitForPartition(t, c, topic, func(p metadata.Partition) bool { return len(p.ISR) == 4 })
	clustertest.WaitFor(t, 30*time.Second, "the restarted learner's image", func() bool {
		_, ok := added.MetadataImage().Topic("while-down")
		return ok
	})
	checkAcked(t, c, topic, acked)
	waitReplicasIdentical(t, c, topic)
	checkNeverLearnerController(t, c)
}

// When the active controller dies in a cluster of three voters and a
// learner, a voter takes over, never the learner, and the learner
// follows the new controller's metadata.
func TestClusterLearnerNeverController(t *testing.T) {
	c := clustertest.StartWithLearners(t, 3, 1, nil)
	c.WaitForBrokers(t, 4)
	old := c.WaitForController(t)
	c.Node(old).Close()
	var ctl int32
	clustertest.WaitFor(t, 30*time.Second, "a new controller", func() bool {
		ctl = c.Controller()
		return ctl >= 0 && ctl != old
	})
	if c.Node(ctl).Learner {
		t.Fatalf("the learner %d became the controller", ctl)
	}
	checkNeverLearnerController(t, c)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if resp, err := c.Admin(t).CreateTopic(ctx, 1, 3, nil, "after-failover"); err != nil || resp.Err != nil {
		t.Fatalf("CreateTopic: %v / %v", err, resp.Err)
	}
	learner := c.Node(4)
	clustertest.WaitFor(t, 30*time.Second, "the learner to see the new topic", func() bool {
		_, ok := learner.MetadataImage().Topic("after-failover")
		return ok
	})
	if st, _ := learner.QuorumStatus(); st.Leader != ctl || st.Role != "StateFollower" {
		t.Fatalf("the learner follows %d as %s, want %d as StateFollower", st.Leader, st.Role, ctl)
	}
}

// A learner whose voters are unreachable starts, serves (with empty
// metadata, no controller), and closes without waiting for its join.
func TestLearnerAloneStartsAndCloses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadVoter := ln.Addr().String()
	ln.Close()
	cfg := config.Default()
	for k, v := range map[string]string{
		"node.id": "9", "listeners": "PLAINTEXT://127.0.0.1:0", "log.dirs": t.TempDir(), "admin.listener": "",
		"controller.quorum.voters": "1@" + deadVoter, "controller.listener": "127.0.0.1:0",
	} {
		if err := cfg.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	b, err := broker.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		b.Close()
		t.Fatal(err)
	}
	md := seedRequest(t, b.Addrs()[0].String(), kmsg.NewPtrMetadataRequest()).(*kmsg.MetadataResponse)
	st, _ := b.QuorumStatus()
	if md.ControllerID != -1 || len(md.Brokers) != 0 || st.Learner || st.Leader != -1 {
		t.Fatalf("a learner alone: Metadata controller %d, %d brokers; quorum %+v", md.ControllerID, len(md.Brokers), st)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

// produceN produces records from..to-1 to partition 0 of topic with
// acks=all and returns them by offset.
func produceN(ctx context.Context, t *testing.T, c *clustertest.Cluster, topic string, from, to int) map[int64]string {
	t.Helper()
	cl := c.Client(t, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(100), kgo.DefaultProduceTopic(topic))
	acked := map[int64]string{}
	for i := from; i < to; i++ {
		v := fmt.Sprintf("record-%d", i)
		r, err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).First()
		if err != nil {
			t.Fatalf("produce %d to %s: %v", i, topic, err)
		}
		acked[r.Offset] = v
	}
	return acked
}

// checkBrokersListed checks that every live node's Metadata and
// DescribeCluster list n brokers and name a voter as the controller.
func checkBrokersListed(t *testing.T, c *clustertest.Cluster, n int) {
	t.Helper()
	for _, node := range c.Live() {
		md := seedRequest(t, node.Addr, kmsg.NewPtrMetadataRequest()).(*kmsg.MetadataResponse)
		dc := seedRequest(t, node.Addr, kmsg.NewPtrDescribeClusterRequest()).(*kmsg.DescribeClusterResponse)
		if len(md.Brokers) != n || len(dc.Brokers) != n {
			t.Fatalf("node %d lists %d brokers in Metadata, %d in DescribeCluster; want %d", node.ID, len(md.Brokers), len(dc.Brokers), n)
		}
		for _, ctl := range []int32{md.ControllerID, dc.ControllerID} {
			if cn := c.Node(ctl); cn == nil || cn.Learner {
				t.Fatalf("node %d names %d the controller", node.ID, ctl)
			}
		}
	}
}

// checkNeverLearnerController checks that no live learner is, or thinks
// it is, the Raft leader.
func checkNeverLearnerController(t *testing.T, c *clustertest.Cluster) {
	t.Helper()
	for _, n := range c.Live() {
		st, _ := n.QuorumStatus()
		if n.Learner && (!st.Learner || st.Role == "StateLeader" || st.Role == "StateCandidate") {
			t.Fatalf("learner %d: %+v", n.ID, st)
		}
		if ln := c.Node(st.Leader); ln != nil && ln.Learner {
			t.Fatalf("node %d follows the learner %d", n.ID, st.Leader)
		}
	}
}

// waitReplicasIdentical waits until the live replicas of partition 0 of
// topic hold the same segment bytes (other nodes hold no replica).
func waitReplicasIdentical(t *testing.T, c *clustertest.Cluster, topic string) {
	t.Helper()
	read := func(dir string) []byte {
		files, _ := filepath.Glob(filepath.Join(dir, topic+"-0", "*.log"))
		slices.Sort(files)
		var all []byte
		for _, f := range files {
			b, _ := os.ReadFile(f)
			all = append(all, b...)
		}
		return all
	}
	clustertest.WaitFor(t, 30*time.Second, "byte-identical replicas of "+topic, func() bool {
		var first []byte
		seen := 0
		for _, n := range c.Live() {
			if !slices.Contains(partitionState(c, topic).Replicas, n.ID) {
				continue
			}
			b := read(n.Dir)
			if len(b) == 0 || (seen > 0 && !bytes.Equal(first, b)) {
				return false
			}
			first = b
			seen++
		}
		return seen > 0
	})
}
