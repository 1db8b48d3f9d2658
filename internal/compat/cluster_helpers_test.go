package compat

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/clustertest"
)

// The cluster tests run each client against three in-process nodes and a
// topic with three replicas and min.insync.replicas=2 whose partition
// leaders are spread over the nodes, so the client must route every
// partition to its own leader. runFailover then closes a node under the
// client (a controlled shutdown, as in a rolling restart).

// startCluster starts three nodes and waits until all are registered.
func startCluster(t *testing.T) *clustertest.Cluster {
	t.Helper()
	c := clustertest.Start(t, 3, map[string]string{
		"group.initial.rebalance.delay.ms": "0",
		// Node.Close hands the node's leaderships to the other ISR members
		// first, so clients see NOT_LEADER_OR_FOLLOWER and move on.
		"controlled.shutdown.enable": "true",
		// Fewer than the default 50 partitions, for a quicker start on a
		// small machine.
		"offsets.topic.num.partitions": "6",
		// clustertest's short session and lag timeouts make a node that a
		// loaded machine starves for a second lose its leaderships; these
		// tests close nodes with a controlled shutdown, which does not
		// wait for either timeout, so they can afford longer ones.
		"broker.session.timeout.ms": "10000",
		"replica.lag.time.max.ms":   "10000",
	})
	c.WaitForBrokers(t, 3)
	waitForOffsetsTopic(t, c)
	return c
}

// waitForOffsetsTopic has the cluster create __consumer_offsets (a
// FindCoordinator does) and waits until every node sees each of its
// partitions led and fully replicated, so the group clients under test do
// not spend their retries on its creation.
func waitForOffsetsTopic(t *testing.T, c *clustertest.Cluster) {
	t.Helper()
	adm := c.Admin(t)
	clustertest.WaitFor(t, 30*time.Second, "a group coordinator", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return adm.FindGroupCoordinators(ctx, "compat-warm-up")["compat-warm-up"].Err == nil
	})
	waitReplicated(t, c, "__consumer_offsets", -1)
}

// waitReplicated waits until every live node sees every partition of
// topic (partitions of them, unless -1) led and with three in-sync
// replicas, and returns the leaders.
func waitReplicated(t *testing.T, c *clustertest.Cluster, topic string, partitions int) map[int32]bool {
	t.Helper()
	leaders := map[int32]bool{}
	clustertest.WaitFor(t, 30*time.Second, "every partition of "+topic+" fully replicated on every node", func() bool {
		for _, n := range c.Live() {
			mt, ok := n.MetadataImage().Topic(topic)
			if !ok || len(mt.Partitions) == 0 || partitions >= 0 && len(mt.Partitions) != partitions {
				return false
			}
			for _, p := range mt.Partitions {
				if len(p.ISR) != 3 || p.Leader <= 0 {
					return false
				}
				leaders[p.Leader] = true
			}
		}
		return true
	})
	return leaders
}

// createReplicatedTopic creates topic with three replicas per partition
// and min.insync.replicas=2, and waits until every node knows every
// partition with its full ISR.
func createReplicatedTopic(t *testing.T, c *clustertest.Cluster, topic string, partitions int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	minISR := "2"
	resp, err := c.Admin(t).CreateTopic(ctx, partitions, 3, map[string]*string{"min.insync.replicas": &minISR}, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic %s: %v %v", topic, err, resp.Err)
	}
	leaders := waitReplicated(t, c, topic, int(partitions))
	if partitions >= 3 && len(leaders) < 2 {
		t.Fatalf("the partitions of %s are all led by one node %v: nothing tests per-partition routing", topic, leaders)
	}
}

// leaders maps each partition of topic to its leader in the image.
func leaders(c *clustertest.Cluster, topic string) map[int32]int32 {
	out := map[int32]int32{}
	if mt, ok := c.Image().Topic(topic); ok {
		for _, p := range mt.Partitions {
			out[p.Partition] = p.Leader
		}
	}
	return out
}

// closeNode closes node id (a controlled shutdown) and waits until every
// live node sees every partition of topic led by another node.
func closeNode(t *testing.T, c *clustertest.Cluster, topic string, id int32) {
	t.Helper()
	before := leaders(c, topic)
	c.Node(id).Close()
	clustertest.WaitFor(t, 30*time.Second, fmt.Sprintf("partitions of %s led without node %d", topic, id), func() bool {
		for _, n := range c.Live() {
			mt, ok := n.MetadataImage().Topic(topic)
			if !ok {
				return false
			}
			for _, p := range mt.Partitions {
				if p.Leader <= 0 || p.Leader == id {
					return false
				}
			}
		}
		return true
	})
	t.Logf("closed node %d; leaders %v, now %v", id, before, leaders(c, topic))
}

// groupClient is one client library under test in runFailover.
type groupClient interface {
	// produce sends msgs to the topic with acks=all and returns the
	// position each one was acknowledged at, in the order of msgs.
	produce(t *testing.T, msgs []message) []at
	// consume reads the topic as a member of a consumer group until ctx
	// ends, handing every record it is given to got. It runs on its own
	// goroutine, so it reports with t.Errorf, never t.Fatal.
	consume(ctx context.Context, t *testing.T, got func(at, message))
}

// consumed collects what a group consumer delivered, by position.
type consumed struct {
	mu         sync.Mutex
	records    map[at]message
	deliveries int
}

func (c *consumed) add(pos at, m message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.records[pos] = m
	c.deliveries++
}

// has reports whether every position of sent was delivered.
func (c *consumed) has(sent map[at]message) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for pos := range sent {
		if _, ok := c.records[pos]; !ok {
			return false
		}
	}
	return true
}

func (c *consumed) snapshot() (map[at]message, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[at]message, len(c.records))
	for pos, m := range c.records {
		out[pos] = m
	}
	return out, c.deliveries
}

// runFailover produces to topic through cl and consumes it in a group
// through cl; then closes the leader of one of topic's partitions and
// produces again with the same producer. Every acknowledged record must
// reach the group at its acknowledged position. With an idempotent
// producer the log must hold nothing else: a retry across the leader
// change wrote nothing twice.
func runFailover(t *testing.T, c *clustertest.Cluster, topic, group string, cl groupClient, idempotent bool) {
	t.Helper()
	sent := map[at]message{}
	send := func(phase string, n int) {
		t.Helper()
		msgs := make([]message, n)
		for i := range msgs {
			msgs[i] = message{Key: fmt.Sprintf("k%d", i%11), Value: fmt.Sprintf("%s %d", phase, i),
				Headers: map[string]string{"phase": phase}}
		}
		for i, pos := range cl.produce(t, msgs) {
			if prev, dup := sent[pos]; dup {
				t.Fatalf("%+v acknowledged for %q and %q", pos, prev.Value, msgs[i].Value)
			}
			sent[pos] = msgs[i]
		}
	}
	send("before", 90)
	parts := map[int32]bool{}
	for pos := range sent {
		parts[pos.Partition] = true
	}
	if len(parts) < 2 {
		t.Fatalf("records went to partitions %v only", parts)
	}

	got := &consumed{records: map[at]message{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		cl.consume(ctx, t, got.add)
	}()
	defer func() { cancel(); <-done }()
	clustertest.WaitFor(t, 30*time.Second, "the group to read the first records", func() bool { return got.has(sent) })

	// The node closed leads a partition but does not coordinate the group.
	// Gregor's Metadata still lists a fenced broker (Kafka leaves it out),
	// so when the coordinator's connection drops before it answered
	// NOT_COORDINATOR, Sarama keeps dialing the closed node instead of
	// looking for the new coordinator.
	coord := coordinator(t, c, group)
	victim := int32(-1)
	for _, leader := range leaders(c, topic) {
		if leader != coord {
			victim = leader
		}
	}
	if victim < 0 {
		t.Fatalf("the group's coordinator %d leads every partition of %s", coord, topic)
	}
	closeNode(t, c, topic, victim)
	send("after", 90)
	clustertest.WaitFor(t, 30*time.Second, "the group to read every acknowledged record", func() bool { return got.has(sent) })
	cancel()
	<-done

	records, deliveries := got.snapshot()
	t.Logf("%d records acknowledged, %d positions read in %d deliveries", len(sent), len(records), deliveries)
	if !idempotent {
		// A plain producer may write a record twice when it retries a
		// request whose answer it lost: only the acknowledged positions
		// are checked.
		for pos := range records {
			if _, ok := sent[pos]; !ok {
				t.Logf("unacknowledged record at %+v: %+v", pos, records[pos])
				delete(records, pos)
			}
		}
	}
	compare(t, sent, records)
}

// coordinator is the node coordinating group.
func coordinator(t *testing.T, c *clustertest.Cluster, group string) int32 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp := c.Admin(t).FindGroupCoordinators(ctx, group)
	r, ok := resp[group]
	if !ok || r.Err != nil {
		t.Fatalf("find coordinator of %s: %+v", group, resp)
	}
	return r.NodeID
}
