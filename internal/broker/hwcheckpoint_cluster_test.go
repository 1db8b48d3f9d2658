package broker_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/clustertest"
	"github.com/gregor-log/gregor/internal/metadata"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// checkpointedHighWatermark reads the high-watermark checkpoint of
// topic-0 on n (-1: none). The layout is partition/hwcheckpoint.go's:
// magic, version, then the high watermark at bytes 6..13.
func checkpointedHighWatermark(t *testing.T, n *clustertest.Node, topic string) int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(n.Dir, topic+"-0", "high-watermark.checkpoint"))
	if os.IsNotExist(err) {
		return -1
	}
	if err != nil || len(b) != 18 || string(b[:4]) != "GPHW" {
		t.Fatalf("node %d: checkpoint %x, %v", n.ID, b, err)
	}
	return int64(binary.BigEndian.Uint64(b[6:]))
}

// Every replica of a cluster writes its high watermark to its checkpoint
// when it closes, never above what was committed; after the whole cluster
// restarts, each starts from it and the partition serves every
// acknowledged record again, and nothing else.
func TestClusterCheckpointsAcrossFullRestart(t *testing.T) {
	c := clustertest.Start(t, 3, nil)
	c.WaitForBrokers(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const topic, n = "restarted", 20
	if resp, err := c.Admin(t).CreateTopic(ctx, 1, 3, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("CreateTopic: %v / %v", err, resp.Err)
	}
	st := waitForAgreedPartition(t, c, topic, func(p metadata.Partition) bool { return len(p.ISR) == 3 })
	cl := c.Client(t, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	acked := map[int64]string{}
	for i := range n {
		v := fmt.Sprintf("record-%d", i)
		r, err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).First()
		if err != nil {
			t.Fatal(err)
		}
		acked[r.Offset] = v
	}
	cl.Close()
	for _, node := range c.Nodes {
		node.Close()
	}
	for _, node := range c.Nodes {
		hw := checkpointedHighWatermark(t, node, topic)
		switch {
		case node.ID == st.Leader && hw != n:
			t.Errorf("leader %d checkpointed %d, want %d", node.ID, hw, n)
		case hw < 0 || hw > n:
			t.Errorf("node %d checkpointed %d, want 0..%d", node.ID, hw, n)
		}
	}
	for _, node := range c.Nodes {
		node.Restart(t)
	}
	c.WaitForBrokers(t, 3)
	checkAcked(t, c, topic, acked)
	clustertest.WaitFor(t, 30*time.Second, "the high watermark to come back", func() bool {
		p := agreedState(c, topic)
		return p.Leader > 0 && leaderEndOffset(t, c.Node(p.Leader).Addr, topic) == n
	})
}

// leaderEndOffset is ListOffsets(latest) of partition 0 asked of the
// broker at addr: its high watermark when it leads, -1 on any error (not
// the leader, not yet, or the offset not available after an election).
func leaderEndOffset(t *testing.T, addr, topic string) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp, rp.CurrentLeaderEpoch = -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := seedRequest(t, addr, req).(*kmsg.ListOffsetsResponse)
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode == 0 {
		return p.Offset
	}
	return -1
}
