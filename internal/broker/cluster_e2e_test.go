package broker_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/clustertest"
	"github.com/gregor-log/gregor/internal/metadata"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A three-node cluster with a real client: a topic with three replicas
// and min.insync.replicas=2 takes acks=all produces, every replica ends
// with the same bytes, and when the leader dies a new leader from the ISR
// takes over with every acknowledged record at its acknowledged offset.
func TestClusterReplicatesAndFailsOver(t *testing.T) {
	c := clustertest.Start(t, 3, nil)
	c.WaitForBrokers(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	const topic = "replicated"
	adm := c.Admin(t)
	minISR := "2"
	resp, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": &minISR}, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("CreateTopic: %v / %v", err, resp.Err)
	}
	waitForPartition(t, c, topic, func(p metadata.Partition) bool { return len(p.ISR) == 3 && p.Leader > 0 })

	acked := map[int64]string{}
	produce := func(cl *kgo.Client, from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			v := fmt.Sprintf("record-%d", i)
			r, err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}).First()
			if err != nil {
				t.Fatalf("produce %d: %v", i, err)
			}
			if prev, dup := acked[r.Offset]; dup {
				t.Fatalf("offset %d acknowledged twice: %q and %q", r.Offset, prev, v)
			}
			acked[r.Offset] = v
		}
	}
	cl := c.Client(t, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(100))
	produce(cl, 0, 50)
	checkAcked(t, c, topic, acked)
	waitIdenticalLogs(t, c, topic)

	// Kill the leader: a new leader from the ISR, producing continues.
	old := partitionState(c, topic).Leader
	c.Node(old).Close()
	waitForPartition(t, c, topic, func(p metadata.Partition) bool { return p.Leader > 0 && p.Leader != old })
	cl2 := c.Client(t, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(100))
	produce(cl2, 50, 100)
	checkAcked(t, c, topic, acked)
	waitIdenticalLogs(t, c, topic)
}

// partitionState is partition 0 of topic as the cluster's image has it.
func partitionState(c *clustertest.Cluster, topic string) metadata.Partition {
	t, ok := c.Image().Topic(topic)
	if !ok || len(t.Partitions) == 0 {
		return metadata.Partition{Leader: -1}
	}
	return t.Partitions[0]
}

func waitForPartition(t *testing.T, c *clustertest.Cluster, topic string, cond func(metadata.Partition) bool) {
	t.Helper()
	clustertest.WaitFor(t, 30*time.Second, "partition state of "+topic, func() bool {
		return cond(partitionState(c, topic))
	})
}

// checkAcked reads the partition from the start and checks that every
// acknowledged record is at its acknowledged offset.
func checkAcked(t *testing.T, c *clustertest.Cluster, topic string, acked map[int64]string) {
	t.Helper()
	cl := c.Client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	last := int64(-1)
	for off := range acked {
		last = max(last, off)
	}
	got := map[int64]string{}
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consuming: %v; read %d of %d", err, len(got), len(acked))
		}
		fs.EachRecord(func(r *kgo.Record) { got[r.Offset] = string(r.Value) })
		if _, done := got[last]; done {
			break
		}
	}
	for off, v := range acked {
		if got[off] != v {
			t.Fatalf("offset %d: read %q, acknowledged %q", off, got[off], v)
		}
	}
}

// waitIdenticalLogs waits until the live replicas' segment files of
// partition 0 hold the same bytes.
func waitIdenticalLogs(t *testing.T, c *clustertest.Cluster, topic string) {
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
	clustertest.WaitFor(t, 30*time.Second, "byte-identical replicas", func() bool {
		live := c.Live()
		first := read(live[0].Dir)
		if len(first) == 0 {
			return false
		}
		for _, n := range live[1:] {
			if !bytes.Equal(first, read(n.Dir)) {
				return false
			}
		}
		return true
	})
}

// The partition's leader is also the active controller: killing it needs
// a new controller (Raft election) before a new partition leader, and no
// acknowledged record is lost.
func TestClusterControllerLeaderFailover(t *testing.T) {
	c := clustertest.Start(t, 3, nil)
	c.WaitForBrokers(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	ctl := seedRequest(t, c.Nodes[0].Addr, kmsg.NewPtrMetadataRequest()).(*kmsg.MetadataResponse).ControllerID
	replicas := []int32{ctl}
	for _, n := range c.Nodes {
		if n.ID != ctl {
			replicas = append(replicas, n.ID)
		}
	}
	const topic = "led-by-the-controller"
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Partition, ra.Replicas = 0, replicas
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	minISR := "2"
	cfg := kmsg.NewCreateTopicsRequestTopicConfig()
	cfg.Name, cfg.Value = "min.insync.replicas", &minISR
	rt.Configs = append(rt.Configs, cfg)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, c.Client(t))
	if err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("CreateTopics: %v / %v", err, resp)
	}
	waitForPartition(t, c, topic, func(p metadata.Partition) bool { return len(p.ISR) == 3 && p.Leader == ctl })

	acked := map[int64]string{}
	produce := func(cl *kgo.Client, from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			v := fmt.Sprintf("record-%d", i)
			r, err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}).First()
			if err != nil {
				t.Fatalf("produce %d: %v", i, err)
			}
			acked[r.Offset] = v
		}
	}
	produce(c.Client(t, kgo.RequiredAcks(kgo.AllISRAcks())), 0, 30)
	c.Node(ctl).Close()
	waitForPartition(t, c, topic, func(p metadata.Partition) bool { return p.Leader > 0 && p.Leader != ctl })
	produce(c.Client(t, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(100)), 30, 60)
	checkAcked(t, c, topic, acked)
	waitIdenticalLogs(t, c, topic)
}

// A controlled shutdown hands the leadership over before the broker
// closes: with a session timeout far beyond the test's deadlines, only
// the shutdown can have moved it. Nothing acknowledged is lost.
func TestClusterControlledShutdown(t *testing.T) {
	c := clustertest.Start(t, 3, map[string]string{
		"controlled.shutdown.enable": "true",
		"broker.session.timeout.ms":  "600000",
	})
	c.WaitForBrokers(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const topic = "handed-over"
	minISR := "2"
	if resp, err := c.Admin(t).CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": &minISR}, topic); err != nil || resp.Err != nil {
		t.Fatalf("CreateTopic: %v / %v", err, resp.Err)
	}
	waitForPartition(t, c, topic, func(p metadata.Partition) bool { return len(p.ISR) == 3 && p.Leader > 0 })
	acked := map[int64]string{}
	cl := c.Client(t, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(100))
	for i := range 20 {
		v := fmt.Sprintf("record-%d", i)
		r, err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}).First()
		if err != nil {
			t.Fatal(err)
		}
		acked[r.Offset] = v
	}
	old := partitionState(c, topic).Leader
	c.Node(old).Close()
	waitForPartition(t, c, topic, func(p metadata.Partition) bool { return p.Leader > 0 && p.Leader != old })
	checkAcked(t, c, topic, acked)
}

// A follower that was down comes back: it registers again, catches up
// from the leader, and the leader brings it back into the ISR through the
// controller (AlterPartition); its log ends byte-identical.
func TestClusterFollowerRejoinsISR(t *testing.T) {
	c := clustertest.Start(t, 3, nil)
	c.WaitForBrokers(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const topic = "rejoin"
	if resp, err := c.Admin(t).CreateTopic(ctx, 1, 3, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("CreateTopic: %v / %v", err, resp.Err)
	}
	waitForPartition(t, c, topic, func(p metadata.Partition) bool { return len(p.ISR) == 3 && p.Leader > 0 })
	st := partitionState(c, topic)
	var follower int32
	for _, id := range st.Replicas {
		if id != st.Leader {
			follower = id
			break
		}
	}
	cl := c.Client(t, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(100))
	acked := map[int64]string{}
	produce := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			v := fmt.Sprintf("record-%d", i)
			r, err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}).First()
			if err != nil {
				t.Fatalf("produce %d: %v", i, err)
			}
			acked[r.Offset] = v
		}
	}
	produce(0, 20)
	c.Node(follower).Close()
	waitForPartition(t, c, topic, func(p metadata.Partition) bool { return !slices.Contains(p.ISR, follower) })
	produce(20, 40) // while it is away: acks=all waits on the shrunk ISR only
	c.Node(follower).Restart(t)
	waitForPartition(t, c, topic, func(p metadata.Partition) bool { return len(p.ISR) == 3 })
	produce(40, 60)
	checkAcked(t, c, topic, acked)
	waitIdenticalLogs(t, c, topic)
}
