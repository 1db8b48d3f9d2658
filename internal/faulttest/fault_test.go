package faulttest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/record"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The scenarios share one shape: a three-node cluster, a topic of three
// partitions with three replicas and min.insync.replicas=2, a producer
// writing acks=all throughout, a fault, recovery, and the history check.
const (
	topic      = "faults"
	partitions = 3
	// ackBatch is how many new acknowledgements prove that writes go on:
	// about a second of the producer's pace.
	ackBatch = 200
)

// startLoaded starts the cluster, the topic and the producer, and waits
// for the first acknowledgements.
func startLoaded(t *testing.T) (*Cluster, *Producer, *Reader) {
	t.Helper()
	if testing.Short() {
		t.Skip("a multi-process cluster scenario (runs without -short)")
	}
	c := Start(t, 3, nil)
	minISR := "2"
	c.CreateTopic(topic, partitions, 3, map[string]*string{"min.insync.replicas": &minISR})
	p := c.StartProducer(topic, partitions)
	t.Cleanup(p.Stop)
	r := c.StartReader(topic, partitions)
	t.Cleanup(r.Stop)
	c.WaitAcks(p, topic, 0, ackBatch, 30*time.Second, "before any fault")
	return c, p, r
}

// verify stops the producer and the reader, waits for a healthy cluster
// (every replica in every ISR), then checks the history against what a
// fresh consumer reads and against every replica's log files, which must
// be byte-identical, and checks that what the reader saw during the
// faults is still there. It returns the replicas' common logs.
func verify(t *testing.T, c *Cluster, p *Producer, r *Reader) map[int32][]Stored {
	t.Helper()
	p.Stop()
	c.WaitPartitions(60*time.Second, topic, "every replica back in every ISR", FullISR)
	acks := p.History.Acks()
	read := c.ReadAll(topic, partitions)
	if problems := Check(acks, read, true); len(problems) > 0 {
		t.Fatalf("the log as a consumer reads it breaks the history (%v):\n  %s", p.History, strings.Join(problems, "\n  "))
	}
	// The reader that lived through the faults must catch up too: a
	// consumer is not left stuck by a fault once the cluster healed.
	ends := map[int32]int64{}
	for part, recs := range read {
		if len(recs) > 0 {
			ends[part] = recs[len(recs)-1].Offset + 1
		}
	}
	c.WaitFor(30*time.Second, topic, fmt.Sprintf("the reader to catch up to %v (before the wait: %v)", ends, r), func(context.Context) bool { return r.CaughtUp(ends) })
	r.Stop()
	replicas := c.WaitIdenticalReplicas(topic, partitions)
	if problems := Check(acks, replicas, true); len(problems) > 0 {
		t.Fatalf("the replicas' logs break the history (%v):\n  %s", p.History, strings.Join(problems, "\n  "))
	}
	if problems := CheckReads(r.Reads(), replicas); len(problems) > 0 {
		t.Fatalf("records read during the faults changed (%v):\n  %s", p.History, strings.Join(problems, "\n  "))
	}
	for part, recs := range read {
		if len(recs) > len(replicas[part]) || !slices.Equal(recs, replicas[part][:len(recs)]) {
			t.Fatalf("partition %d: a consumer read %d records that are not a prefix of the replicas' %d", part, len(recs), len(replicas[part]))
		}
	}
	n := 0
	for _, recs := range read {
		n += len(recs)
	}
	t.Logf("history: %v; %d records read back, every acknowledged one in place; reader: %v, none changed", p.History, n, r)
	return replicas
}

// failedOver waits until node leads no partition any more (what names the
// fault), checks that every partition it led in before went to a member
// of that ISR with a higher leader epoch (no unclean election), and waits
// for writes to go on. It returns the partitions' new state.
func failedOver(t *testing.T, c *Cluster, p *Producer, before []PartitionState, node int32, what string) []PartitionState {
	t.Helper()
	after := c.WaitPartitions(30*time.Second, topic, fmt.Sprintf("leaders other than node %d (%s)", node, what),
		func(s PartitionState) bool { return s.Leader >= 0 && s.Leader != node })
	for i, s := range after {
		if b := before[i]; b.Leader == node && (!slices.Contains(b.ISR, s.Leader) || s.LeaderEpoch <= b.LeaderEpoch) {
			t.Fatalf("partition %d: new leader %d (epoch %d) was not in the ISR %v of epoch %d", s.Partition, s.Leader, s.LeaderEpoch, b.ISR, b.LeaderEpoch)
		}
	}
	c.WaitAcks(p, topic, p.History.AckCount(), ackBatch, 30*time.Second, what)
	return after
}

// rejoined waits until node is back in every ISR and writes go on.
func rejoined(c *Cluster, p *Producer, node int32, what string) {
	c.WaitPartitions(60*time.Second, topic, fmt.Sprintf("node %d back in every ISR (%s)", node, what), FullISR)
	c.WaitAcks(p, topic, p.History.AckCount(), ackBatch, 30*time.Second, what)
}

// Killing the leader with SIGKILL during continuous acks=all produce: a
// new leader comes from the ISR, writes go on, the killed node comes back
// as a follower, and no acknowledged record is lost.
func TestKill9LeaderUnderAcksAll(t *testing.T) {
	for _, k := range victimKinds {
		t.Run(k.String(), func(t *testing.T) { kill9Leader(t, k) })
	}
}

func kill9Leader(t *testing.T, kind victimKind) {
	c, p, r := startLoaded(t)
	before := c.WaitPartitions(10*time.Second, topic, "a leader for every partition", FullISR)
	victim, _ := pickVictim(t, c, before, kind)

	c.Kill9(victim)
	failedOver(t, c, p, before, victim, "after the leader was killed")

	c.Restart(victim)
	rejoined(c, p, victim, "after the restart")
	verify(t, c, p, r)
}

// Every node killed with SIGKILL at once, under load, then restarted:
// the cluster recovers from its disks alone (metadata log, partition
// logs, producer state) and nothing acknowledged is lost.
func TestKill9WholeCluster(t *testing.T) {
	c, p, r := startLoaded(t)
	for _, n := range c.Nodes {
		c.Kill9(n.ID)
	}
	at := p.History.AckCount()
	for _, n := range c.Nodes {
		c.Restart(n.ID)
	}
	c.WaitPartitions(60*time.Second, topic, "every replica back in every ISR after the restart", FullISR)
	c.WaitAcks(p, topic, at, ackBatch, 30*time.Second, "after the whole cluster restarted")
	verify(t, c, p, r)
}

// A SIGSTOPped follower leaves the ISR while writes go on (two replicas
// still satisfy min.insync.replicas=2); after SIGCONT it catches up and
// rejoins, with a log byte-identical to the others'.
func TestStopFollowerLeavesAndRejoinsISR(t *testing.T) {
	c, p, r := startLoaded(t)
	before := c.WaitPartitions(10*time.Second, topic, "a leader for every partition", FullISR)
	var follower int32 = -1
	for _, r := range before[0].Replicas {
		if r != before[0].Leader {
			follower = r
			break
		}
	}

	c.Stop(follower)
	c.WaitPartitions(30*time.Second, topic, fmt.Sprintf("the stopped node %d out of every ISR", follower),
		func(s PartitionState) bool {
			return s.Leader >= 0 && s.Leader != follower && !slices.Contains(s.ISR, follower)
		})
	c.WaitAcks(p, topic, p.History.AckCount(), ackBatch, 30*time.Second, "while a follower is stopped")

	c.Cont(follower)
	rejoined(c, p, follower, "after the follower rejoined")
	verify(t, c, p, r)
}

// A SIGSTOPped leader is a zombie: when it resumes it still believes it
// leads, with requests queued in its sockets from before the freeze. The
// majority has elected a new leader meanwhile; the zombie must step down
// and rejoin as a follower without any acknowledged record changing.
func TestStopLeaderResumesAsZombie(t *testing.T) {
	c, p, r := startLoaded(t)
	before := c.WaitPartitions(10*time.Second, topic, "a leader for every partition", FullISR)
	victim, _ := pickVictim(t, c, before, plainLeader)

	c.Stop(victim)
	failedOver(t, c, p, before, victim, "while the old leader is stopped")

	c.Cont(victim)
	rejoined(c, p, victim, "after the old leader resumed")
	verify(t, c, p, r)
}

// Every node in turn is stopped with SIGTERM (controlled shutdown) and
// restarted, waiting for full ISRs before the next: writes go on through
// every step and nothing acknowledged is lost.
func TestRollingRestartUnderLoad(t *testing.T) {
	c, p, r := startLoaded(t)
	for _, n := range c.Nodes {
		before := c.WaitPartitions(30*time.Second, topic, "a leader for every partition", FullISR)
		c.Term(n.ID)
		failedOver(t, c, p, before, n.ID, fmt.Sprintf("while node %d is down", n.ID))
		c.Restart(n.ID)
		rejoined(c, p, n.ID, fmt.Sprintf("after node %d restarted", n.ID))
	}
	verify(t, c, p, r)
}

// A network partition isolates the leader of partition 0 from the other
// nodes (clients still reach it): it can no longer acknowledge acks=all
// writes, the majority elects a new leader and goes on; after the heal
// the old leader rejoins as a follower, dropping what it appended alone.
func TestPartitionIsolatesLeader(t *testing.T) {
	for _, k := range victimKinds {
		t.Run(k.String(), func(t *testing.T) { isolateLeader(t, k) })
	}
}

func isolateLeader(t *testing.T, kind victimKind) {
	leaderLosesLinks(t, kind, linkLoss{strike: (*Cluster).Isolate, state: "isolated", heal: "after the heal"})
}

// linkLoss is how a leader loses its links in leaderLosesLinks: strike
// applies the fault to the victim, state names it in messages ("the
// isolated leader"), heal names the moment after Heal.
type linkLoss struct {
	strike      func(c *Cluster, victim int32)
	state, heal string
}

// leaderLosesLinks strikes a partition leader's links with loss while a
// producer writes through the rest of the cluster: raw acks=all produces
// straight to it, before and after the majority elects a new leader, must
// never be acknowledged; after the heal it rejoins, and none of what it
// appended alone survives.
func leaderLosesLinks(t *testing.T, kind victimKind, loss linkLoss) {
	c, p, r := startLoaded(t)
	before := c.WaitPartitions(10*time.Second, topic, "a leader for every partition", FullISR)
	victim, led := pickVictim(t, c, before, kind)
	topicID := topicIDOf(t, c, victim)

	loss.strike(c, victim)
	// Straight to the struck leader, which still believes it leads.
	var sent []string
	produceStruck := func(i int) {
		value := fmt.Sprintf("%s-%d", loss.state, i)
		sent = append(sent, value)
		if err := rawProduce(c, victim, topicID, led, value); err == nil {
			t.Fatalf("the %s node %d acknowledged an acks=all write (%s)", loss.state, victim, value)
		} else {
			t.Logf("the %s node %d refused %s: %v", loss.state, victim, value, err)
		}
	}
	produceStruck(0)

	failedOver(t, c, p, before, victim, "through the majority, the leader "+loss.state)
	produceStruck(1) // after the majority moved on, still no acknowledgement

	c.Heal(victim)
	rejoined(c, p, victim, loss.heal)
	replicas := verify(t, c, p, r)
	for _, s := range replicas[led] {
		if slices.Contains(sent, s.Value) {
			t.Fatalf("%q, appended by the %s leader and never acknowledged, survived at offset %d", s.Value, loss.state, s.Offset)
		}
	}
}

// A partial partition: a partition leader loses its links to the active
// controller only, and still reaches the third node. The controller
// fences it (no heartbeats) and moves its leadership; the cut-off leader,
// whose metadata is frozen, still believes it leads but must not
// acknowledge acks=all writes any more. After the heal it follows again.
func TestLeaderCutFromController(t *testing.T) {
	c, p, r := startLoaded(t)
	before := c.WaitPartitions(10*time.Second, topic, "a leader for every partition", FullISR)
	victim, led := pickVictim(t, c, before, plainLeader)
	controller := controllerOf(t, c)
	topicID := topicIDOf(t, c, victim)

	c.Sever(victim, controller)
	failedOver(t, c, p, before, victim, "through the new leaders, the old one cut from the controller")
	var sent []string
	for i := range 2 {
		value := fmt.Sprintf("cut-off-%d", i)
		sent = append(sent, value)
		if err := rawProduce(c, victim, topicID, led, value); err == nil {
			t.Fatalf("node %d, cut from the controller and no longer leader, acknowledged an acks=all write (%s)", victim, value)
		} else {
			t.Logf("node %d refused %s: %v", victim, value, err)
		}
	}

	c.Heal(victim)
	rejoined(c, p, victim, "after the heal")
	replicas := verify(t, c, p, r)
	for _, s := range replicas[led] {
		if slices.Contains(sent, s.Value) {
			t.Fatalf("%q, never acknowledged by the cut-off node, survived at offset %d", s.Value, s.Offset)
		}
	}
}

// controllerOf is the active controller as the first node names it.
func controllerOf(t *testing.T, c *Cluster) int32 {
	t.Helper()
	var controller int32 = -1
	c.WaitFor(10*time.Second, topic, "an active controller", func(ctx context.Context) bool {
		_, controller, _ = c.Partitions(ctx, c.Nodes[0].ID, topic)
		return controller >= 0
	})
	return controller
}

// victimKind is which leader a scenario strikes.
type victimKind int

const (
	// plainLeader leads a partition but is not the active controller:
	// only the partition fails over.
	plainLeader victimKind = iota
	// controllerLeader is the active controller and leads a partition:
	// the metadata quorum elects a new controller before the partition
	// can fail over.
	controllerLeader
)

var victimKinds = []victimKind{plainLeader, controllerLeader}

func (k victimKind) String() string {
	if k == controllerLeader {
		return "controller"
	}
	return "leader"
}

// pickVictim returns the node of that kind and the first partition it
// leads.
func pickVictim(t *testing.T, c *Cluster, parts []PartitionState, kind victimKind) (node, partition int32) {
	t.Helper()
	controller := controllerOf(t, c)
	for _, s := range parts {
		if (s.Leader == controller) == (kind == controllerLeader) {
			t.Logf("striking node %d, leader of partition %d (epoch %d, isr %v); the controller is %d", s.Leader, s.Partition, s.LeaderEpoch, s.ISR, controller)
			return s.Leader, s.Partition
		}
	}
	t.Fatalf("no partition leader that is a %v: controller %d, partitions %v", kind, controller, parts)
	return -1, -1
}

// topicIDOf reads the test topic's id from node id's Metadata.
func topicIDOf(t *testing.T, c *Cluster, id int32) [16]byte {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := c.Request(context.Background(), id, req)
	if err != nil {
		t.Fatalf("metadata from node %d: %v", id, err)
	}
	return resp.(*kmsg.MetadataResponse).Topics[0].TopicID
}

// rawProduce sends one acks=all record to partition of the test topic on
// node id itself, and returns nil only if that node acknowledged it.
func rawProduce(c *Cluster, id int32, topicID [16]byte, partition int32, value string) error {
	b := record.NewBuilder(0, record.CodecNone)
	b.Add(time.Now().UnixMilli(), nil, []byte(value))
	batch, err := b.Build()
	if err != nil {
		return err
	}
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 1500 // below the harness's request timeout
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = topic, topicID
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := c.Request(context.Background(), id, req)
	if err != nil {
		return err
	}
	pr := resp.(*kmsg.ProduceResponse)
	if len(pr.Topics) != 1 || len(pr.Topics[0].Partitions) != 1 {
		return fmt.Errorf("a produce response of %d topics", len(pr.Topics))
	}
	if err := kerr.ErrorForCode(pr.Topics[0].Partitions[0].ErrorCode); err != nil {
		return err
	}
	return nil
}
