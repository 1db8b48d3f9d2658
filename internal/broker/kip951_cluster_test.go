package broker_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/clustertest"
	"github.com/gregor-log/gregor/internal/metadata"
	"github.com/gregor-log/gregor/internal/record"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// checkHint checks a KIP-951 hint against the partition's leader in the
// image, and that brokers (the response's NodeEndpoints) name its address.
func checkHint(t *testing.T, c *clustertest.Cluster, what string, leaderID, leaderEpoch int32, brokers map[int32]string) {
	t.Helper()
	want := agreedState(c, "hinted")
	if leaderID != want.Leader || leaderEpoch != want.LeaderEpoch {
		t.Errorf("%s: CurrentLeader (%d, %d), the image has (%d, %d)", what, leaderID, leaderEpoch, want.Leader, want.LeaderEpoch)
	}
	if got, want := brokers[want.Leader], c.Node(want.Leader).Addr; got != want {
		t.Errorf("%s: the leader's endpoint %q, want %q (brokers %v)", what, got, want, brokers)
	}
}

func hostPort(host string, port int32) string {
	return net.JoinHostPort(host, strconv.Itoa(int(port)))
}

// Produce and Fetch sent to a follower answer NOT_LEADER_OR_FOLLOWER with
// the image's leader and that leader's client endpoint (KIP-951), at the
// newest versions the broker serves (Produce v11, Fetch v16).
func TestClusterLeaderHintsFromFollower(t *testing.T) {
	c := clustertest.Start(t, 3, nil)
	c.WaitForBrokers(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if resp, err := c.Admin(t).CreateTopic(ctx, 1, 3, nil, "hinted"); err != nil || resp.Err != nil {
		t.Fatalf("CreateTopic: %v / %v", err, resp.Err)
	}
	st := waitForAgreedPartition(t, c, "hinted", func(p metadata.Partition) bool { return len(p.ISR) == 3 })
	mt, _ := c.Image().Topic("hinted")
	bb := record.NewBuilder(0, record.CodecNone)
	bb.Add(time.Now().UnixMilli(), nil, []byte("v"))
	batch, err := bb.Build()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes {
		if n.ID == st.Leader {
			continue
		}
		// The follower applies the image to its partition just after
		// publishing it: wait for the settled answer.
		var produced *kmsg.ProduceResponse
		clustertest.WaitFor(t, 10*time.Second, "the follower's produce answer", func() bool {
			req := kmsg.NewPtrProduceRequest()
			req.Acks, req.TimeoutMillis = 1, 5000
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic = "hinted"
			rt.Partitions = []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: batch}}
			req.Topics = append(req.Topics, rt)
			produced = seedRequest(t, n.Addr, req).(*kmsg.ProduceResponse)
			return produced.Topics[0].Partitions[0].ErrorCode == kerr.NotLeaderForPartition.Code
		})
		if produced.Version < 10 {
			t.Fatalf("produce answered at v%d, want v10+", produced.Version)
		}
		brokers := map[int32]string{}
		for _, b := range produced.Brokers {
			brokers[b.NodeID] = hostPort(b.Host, b.Port)
		}
		cl := produced.Topics[0].Partitions[0].CurrentLeader
		checkHint(t, c, fmt.Sprintf("produce v%d to node %d", produced.Version, n.ID), cl.LeaderID, cl.LeaderEpoch, brokers)

		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxWaitMillis, req.MaxBytes = -1, 0, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = "hinted", mt.ID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = 1<<20, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		fetched := seedRequest(t, n.Addr, req).(*kmsg.FetchResponse)
		if fetched.Version != 16 {
			t.Fatalf("fetch answered at v%d, want v16", fetched.Version)
		}
		fp := fetched.Topics[0].Partitions[0]
		if fp.ErrorCode != kerr.NotLeaderForPartition.Code {
			t.Fatalf("fetch from node %d: %v, want NOT_LEADER_OR_FOLLOWER", n.ID, kerr.ErrorForCode(fp.ErrorCode))
		}
		brokers = map[int32]string{}
		for _, b := range fetched.Brokers {
			brokers[b.NodeID] = hostPort(b.Host, b.Port)
		}
		checkHint(t, c, fmt.Sprintf("fetch v16 to node %d", n.ID), fp.CurrentLeader.LeaderID, fp.CurrentLeader.LeaderEpoch, brokers)
	}
}

// agreedState is partition 0 of topic as every live node's image shows
// it, or Leader -1 while they differ (a restarted node replays an old
// image before it catches up).
func agreedState(c *clustertest.Cluster, topic string) metadata.Partition {
	var first metadata.Partition
	for i, n := range c.Live() {
		t, ok := n.MetadataImage().Topic(topic)
		if !ok || len(t.Partitions) == 0 {
			return metadata.Partition{Leader: -1}
		}
		p := t.Partitions[0]
		if i == 0 {
			first = p
		} else if p.Leader != first.Leader || p.LeaderEpoch != first.LeaderEpoch || !slices.Equal(p.ISR, first.ISR) {
			return metadata.Partition{Leader: -1}
		}
	}
	return first
}

func waitForAgreedPartition(t *testing.T, c *clustertest.Cluster, topic string, cond func(metadata.Partition) bool) metadata.Partition {
	t.Helper()
	var p metadata.Partition
	clustertest.WaitFor(t, 30*time.Second, "every node's partition state of "+topic, func() bool {
		p = agreedState(c, topic)
		return p.Leader >= 0 && cond(p)
	})
	return p
}

// logLines is a kgo.Logger that keeps what it is given.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Level() kgo.LogLevel { return kgo.LogLevelInfo }
func (l *logLines) Log(_ kgo.LogLevel, msg string, kv ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintln(&l.buf, append([]any{msg}, kv...)...)
}
func (l *logLines) has(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Contains(l.buf.String(), s)
}

// A franz-go producer and consumer keep working across a leadership move,
// and move on the brokers' KIP-951 hints: the old leader stays up and
// answers NOT_LEADER_OR_FOLLOWER naming the new one, so neither client
// waits for a metadata refresh. The move is a preferred-leader election
// after the preferred replica was restarted (automatic rebalancing is off,
// so only the election moves it). A fetch at the old epoch is fenced and
// named the new leader too.
func TestClusterLeaderHintsMoveClients(t *testing.T) {
	c := clustertest.Start(t, 3, map[string]string{"auto.leader.rebalance.enable": "false"})
	c.WaitForBrokers(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := c.Admin(t)
	if resp, err := adm.CreateTopic(ctx, 1, 3, nil, "hinted"); err != nil || resp.Err != nil {
		t.Fatalf("CreateTopic: %v / %v", err, resp.Err)
	}
	st := waitForAgreedPartition(t, c, "hinted", func(p metadata.Partition) bool { return len(p.ISR) == 3 })
	preferred := st.Replicas[0]
	// Take the leadership away from the preferred replica: restart it.
	c.Node(preferred).Close()
	waitForAgreedPartition(t, c, "hinted", func(p metadata.Partition) bool { return p.Leader != preferred })
	c.Node(preferred).Restart(t)
	before := waitForAgreedPartition(t, c, "hinted", func(p metadata.Partition) bool { return len(p.ISR) == 3 })

	var plog, clog logLines
	prod := c.Client(t, kgo.WithLogger(&plog), kgo.DefaultProduceTopic("hinted"), kgo.RequiredAcks(kgo.AllISRAcks()))
	cons := c.Client(t, kgo.WithLogger(&clog), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"hinted": {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(200*time.Millisecond))
	acked := map[int64]string{}
	produce := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			v := fmt.Sprintf("record-%d", i)
			r, err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).First()
			if err != nil {
				t.Fatalf("produce %d: %v", i, err)
			}
			acked[r.Offset] = v
		}
	}
	consumed := map[int64]string{}
	consume := func() {
		t.Helper()
		for len(consumed) < len(acked) {
			fs := cons.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("consumed %d of %d records", len(consumed), len(acked))
			}
			fs.EachRecord(func(r *kgo.Record) { consumed[r.Offset] = string(r.Value) })
		}
	}
	produce(0, 10)
	consume()

	// The election goes to every node (only the active controller takes
	// it), and is retried until it takes: the controller may not yet see
	// the preferred replica as eligible.
	clustertest.WaitFor(t, 30*time.Second, "the preferred replica to lead", func() bool {
		for _, n := range c.Live() {
			req := kmsg.NewPtrElectLeadersRequest()
			rt := kmsg.NewElectLeadersRequestTopic()
			rt.Topic, rt.Partitions = "hinted", []int32{0}
			req.Topics = append(req.Topics, rt)
			// Only the active controller answers; the others say
			// NOT_CONTROLLER.
			seedRequest(t, n.Addr, req)
		}
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) {
			if agreedState(c, "hinted").Leader == preferred {
				return true
			}
			time.Sleep(20 * time.Millisecond) // polling a condition, with a deadline
		}
		return false
	})

	produce(10, 20)
	consume()
	for off, v := range acked {
		if consumed[off] != v {
			t.Fatalf("offset %d: consumed %q, acknowledged %q", off, consumed[off], v)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for !plog.has("moving producing partition due to kip-951") || !clog.has("moving consuming partition due to kip-951") {
		if time.Now().After(deadline) {
			t.Fatalf("a client did not move on a leader hint\nproducer:\n%s\nconsumer:\n%s", plog.buf.String(), clog.buf.String())
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, with a deadline
	}

	// The new leader fences a fetch at the old epoch, naming itself.
	mt, _ := c.Image().Topic("hinted")
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxBytes = -1, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.TopicID = mt.ID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = 1<<20, before.LeaderEpoch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	fetched := seedRequest(t, c.Node(preferred).Addr, req).(*kmsg.FetchResponse)
	fp := fetched.Topics[0].Partitions[0]
	if fp.ErrorCode != kerr.FencedLeaderEpoch.Code {
		t.Fatalf("fetch at the old epoch: %v, want FENCED_LEADER_EPOCH", kerr.ErrorForCode(fp.ErrorCode))
	}
	brokers := map[int32]string{}
	for _, b := range fetched.Brokers {
		brokers[b.NodeID] = hostPort(b.Host, b.Port)
	}
	checkHint(t, c, "fenced fetch", fp.CurrentLeader.LeaderID, fp.CurrentLeader.LeaderEpoch, brokers)
}
