package quorum

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/metadata"
)

// Tests run nodes in-process on 127.0.0.1 ports bound before any node
// starts. They wait on conditions with deadlines, never on sleeps.

const (
	testTick    = 10 * time.Millisecond
	waitTimeout = 20 * time.Second
)

// testLogger logs errors only, or everything with QUORUM_TEST_LOG=1.
func testLogger(t testing.TB) *slog.Logger {
	level := slog.LevelError
	if os.Getenv("QUORUM_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: level}))
}

// testCluster is a set of nodes sharing one voter configuration.
type testCluster struct {
	t      testing.TB
	voters map[int32]string
	addrs  map[int32]string // every node's transport address
	dirs   map[int32]string
	lns    map[int32]net.Listener // bound, not yet handed to a node
	tune   func(*Config)

	mu    sync.Mutex
	nodes map[int32]*Node
}

// newCluster prepares voters 0..voters-1 and learners voters..voters+learners-1
// (node ids start at 0, as Kafka's do); start them with start.
func newCluster(t testing.TB, voters, learners int, tune func(*Config)) *testCluster {
	c := &testCluster{t: t, voters: map[int32]string{}, addrs: map[int32]string{}, dirs: map[int32]string{},
		lns: map[int32]net.Listener{}, nodes: map[int32]*Node{}, tune: tune}
	for i := range int32(voters + learners) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c.lns[i] = ln
		c.addrs[i] = ln.Addr().String()
		c.dirs[i] = t.TempDir()
		if int(i) < voters {
			c.voters[i] = c.addrs[i]
		}
	}
	t.Cleanup(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, n := range c.nodes {
			n.Close()
		}
		for _, ln := range c.lns {
			ln.Close()
		}
	})
	return c
}

func (c *testCluster) config(id int32) Config {
	cfg := Config{NodeID: id, Voters: c.voters, Dir: c.dirs[id], TickInterval: testTick,
		ElectionTicks: 10, HeartbeatTicks: 1, Logger: testLogger(c.t)}
	if c.tune != nil {
		c.tune(&cfg)
	}
	return cfg
}

// start opens node id on its address, rebinding it after a stop.
func (c *testCluster) start(id int32) *Node {
	c.t.Helper()
	cfg := c.config(id)
	c.mu.Lock()
	ln := c.lns[id]
	delete(c.lns, id)
	c.mu.Unlock()
	if ln == nil {
		deadline := time.Now().Add(waitTimeout)
		for {
			var err error
			if ln, err = net.Listen("tcp", c.addrs[id]); err == nil {
				break
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("rebinding node %d: %v", id, err)
			}
			// The old socket may linger for a moment: a bounded retry.
			<-time.After(10 * time.Millisecond)
		}
	}
	cfg.Listener = ln
	n, err := Open(cfg)
	if err != nil {
		c.t.Fatalf("opening node %d: %v", id, err)
	}
	c.mu.Lock()
	c.nodes[id] = n
	c.mu.Unlock()
	return n
}

func (c *testCluster) startAll() {
	for id := range int32(len(c.addrs)) {
		c.start(id)
	}
}

func (c *testCluster) stop(id int32) {
	c.t.Helper()
	c.mu.Lock()
	n := c.nodes[id]
	delete(c.nodes, id)
	c.mu.Unlock()
	if n == nil {
		return
	}
	if err := n.Close(); err != nil {
		c.t.Fatalf("closing node %d: %v", id, err)
	}
}

func (c *testCluster) node(id int32) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id]
}

func (c *testCluster) running() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ns []*Node
	for _, id := range slices.Sorted(maps.Keys(c.nodes)) {
		ns = append(ns, c.nodes[id])
	}
	return ns
}

// leader waits until a running node leads and the running voters agree.
func (c *testCluster) leader() *Node {
	c.t.Helper()
	var lead *Node
	eventually(c.t, "a leader", func() bool {
		lead = nil
		for _, n := range c.running() {
			if n.IsLeader() {
				lead = n
			}
		}
		if lead == nil {
			return false
		}
		for _, n := range c.running() {
			if _, voter := c.voters[n.NodeID()]; voter && n.Leader() != lead.NodeID() {
				return false
			}
		}
		return true
	})
	return lead
}

// converged waits until every running node's image equals want's.
func (c *testCluster) converged(want *metadata.Image) {
	c.t.Helper()
	for _, n := range c.running() {
		waitImage(c.t, n, want)
	}
}

// waitImage waits, watching Changed, until n's image equals want.
func waitImage(t testing.TB, n *Node, want *metadata.Image) {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		ch := n.Changed()
		if sameImage(n.Image(), want) {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("node %d: image at offset %d, want offset %d", n.NodeID(), n.Image().Offset, want.Offset)
		}
	}
}

// sameImage compares images by their snapshot records and offset.
func sameImage(a, b *metadata.Image) bool {
	return a.Offset == b.Offset && bytes.Equal(metadata.EncodeBatch(a.Records()), metadata.EncodeBatch(b.Records()))
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// topic returns a batch creating a topic with partitions partitions.
func topic(name string, partitions int) []metadata.Record {
	id := metadata.NewTopicID()
	rs := []metadata.Record{&metadata.TopicRecord{Name: name, ID: id, Configs: map[string]string{"retention.ms": "1000"}}}
	for p := range int32(partitions) {
		rs = append(rs, &metadata.PartitionRecord{TopicID: id, Partition: p, Replicas: []int32{0, 1, 2},
			ISR: []int32{0, 1, 2}, Leader: p % 3, LeaderEpoch: 1, PartitionEpoch: 1})
	}
	return rs
}

func mustAppend(t testing.TB, n *Node, records ...metadata.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := n.AppendContext(ctx, records...); err != nil {
		t.Fatalf("append on node %d: %v", n.NodeID(), err)
	}
}

func TestSingleVoterIsACluster(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{NodeID: 0, Dir: dir, TickInterval: testTick, Logger: testLogger(t)}
	n, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !n.IsLeader() || n.Leader() != 0 || n.Addr() != nil {
		t.Fatalf("leader %d, is leader %v, addr %v", n.Leader(), n.IsLeader(), n.Addr())
	}
	changed := n.Changed()
	mustAppend(t, n, &metadata.ClusterRecord{ClusterID: "c1"})
	select {
	case <-changed:
	default:
		t.Fatal("Changed not closed by an applied batch")
	}
	mustAppend(t, n, topic("a", 3)...)
	if err := n.Append(topic("a", 1)...); !errors.Is(err, metadata.ErrInvalidRecord) {
		t.Fatalf("duplicate topic: %v", err)
	}
	want := n.Image()
	if want.Offset != 5 || want.ClusterID != "c1" || want.NumTopics() != 1 {
		t.Fatalf("image offset %d cluster %q topics %d", want.Offset, want.ClusterID, want.NumTopics())
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Append(topic("b", 1)...); !errors.Is(err, metadata.ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}

	n, err = Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if !sameImage(n.Image(), want) {
		t.Fatalf("reopened image at offset %d, want %d", n.Image().Offset, want.Offset)
	}
	mustAppend(t, n, topic("b", 1)...)
	if n.Image().NumTopics() != 2 {
		t.Fatal("append after reopen not applied")
	}
}

func TestThreeVotersConverge(t *testing.T) {
	c := newCluster(t, 3, 0, nil)
	c.startAll()
	lead := c.leader()
	mustAppend(t, lead, &metadata.ClusterRecord{ClusterID: "c1"})
	for i := range 20 {
		mustAppend(t, lead, topic(fmt.Sprintf("t%02d", i), 2)...)
	}
	c.converged(lead.Image())
	if got := lead.Image().NumTopics(); got != 20 {
		t.Fatalf("%d topics", got)
	}
	for _, n := range c.running() {
		st := n.Status()
		if len(st.Voters) != 3 || st.Learner || st.Err != nil || st.Leader != lead.NodeID() {
			t.Fatalf("node %d status %+v", n.NodeID(), st)
		}
		if (n == lead) != (st.Match != nil) {
			t.Fatalf("node %d (leader %d) has Match %v: only the leader knows the members' progress", n.NodeID(), lead.NodeID(), st.Match)
		}
	}
	// Every member has an entry; a majority holds the commit.
	st := lead.Status()
	if len(st.Match) != 3 || st.Match[lead.NodeID()] < st.Commit {
		t.Fatalf("leader Match %v, commit %d", st.Match, st.Commit)
	}
	held := 0
	for _, m := range st.Match {
		if m >= st.Commit {
			held++
		}
	}
	if held < 2 {
		t.Fatalf("Match %v: no majority at commit %d", st.Match, st.Commit)
	}
}

func TestAppendOnFollowerNamesTheLeader(t *testing.T) {
	c := newCluster(t, 3, 0, nil)
	c.startAll()
	lead := c.leader()
	for _, n := range c.running() {
		if n == lead {
			continue
		}
		err := n.Append(&metadata.ClusterRecord{ClusterID: "c1"})
		if !errors.Is(err, ErrNotLeader) {
			t.Fatalf("append on follower %d: %v", n.NodeID(), err)
		}
		if id, ok := LeaderFrom(err); !ok || id != lead.NodeID() {
			t.Fatalf("error names leader %d (%v), want %d", id, ok, lead.NodeID())
		}
		if err := n.AddLearner(context.Background(), 9, "127.0.0.1:1"); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("AddLearner on follower: %v", err)
		}
	}
}

func TestLeaderFailover(t *testing.T) {
	c := newCluster(t, 3, 0, nil)
	c.startAll()
	old := c.leader()
	mustAppend(t, old, &metadata.ClusterRecord{ClusterID: "c1"})
	mustAppend(t, old, topic("before", 1)...)
	c.converged(old.Image())
	oldID := old.NodeID()
	c.stop(oldID)

	lead := c.leader()
	if lead.NodeID() == oldID {
		t.Fatal("the stopped node leads")
	}
	mustAppend(t, lead, topic("after", 1)...)
	c.converged(lead.Image())

	c.start(oldID)
	c.converged(lead.Image())
	mustAppend(t, c.leader(), topic("rejoined", 1)...)
	c.converged(c.leader().Image())
}

func TestRestartAllFromDisk(t *testing.T) {
	c := newCluster(t, 3, 0, nil)
	c.startAll()
	lead := c.leader()
	mustAppend(t, lead, &metadata.ClusterRecord{ClusterID: "c1"})
	for i := range 10 {
		mustAppend(t, lead, topic(fmt.Sprintf("t%d", i), 1)...)
	}
	want := lead.Image()
	c.converged(want)
	for id := range int32(3) {
		c.stop(id)
	}
	for id := range int32(3) {
		c.start(id)
	}
	c.converged(want)
	mustAppend(t, c.leader(), topic("more", 1)...)
	c.converged(c.leader().Image())
}

func TestSnapshotCatchUp(t *testing.T) {
	const every = 20
	c := newCluster(t, 3, 0, func(cfg *Config) {
		cfg.SnapshotEntries = every
		cfg.CatchUpEntries = -1
	})
	c.startAll()
	lead := c.leader()
	mustAppend(t, lead, &metadata.ClusterRecord{ClusterID: "c1"})
	c.converged(lead.Image())
	var down int32
	for _, n := range c.running() {
		if n != lead {
			down = n.NodeID()
		}
	}
	c.stop(down)
	for i := range 5 * every {
		mustAppend(t, lead, topic(fmt.Sprintf("t%03d", i), 1)...)
	}
	if st := lead.Status(); st.SnapshotIndex < 4*every {
		t.Fatalf("leader snapshot at %d after %d entries", st.SnapshotIndex, 5*every)
	}
	snaps, err := os.ReadDir(c.dirs[lead.NodeID()])
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, de := range snaps {
		files = append(files, de.Name())
	}
	if len(files) != 2 { // the WAL and one snapshot
		t.Fatalf("leader's directory holds %v", files)
	}

	n := c.start(down)
	waitImage(t, n, lead.Image())
	if st := n.Status(); st.SnapshotsReceived == 0 {
		t.Fatalf("node %d caught up without a snapshot: %+v", down, st)
	}
	// And it keeps following after the snapshot.
	mustAppend(t, lead, topic("after", 1)...)
	c.converged(lead.Image())

	// A restart from its own snapshot and WAL gives the same image.
	c.stop(down)
	n = c.start(down)
	waitImage(t, n, lead.Image())
}

func TestLearner(t *testing.T) {
	c := newCluster(t, 3, 1, nil)
	for id := range int32(3) {
		c.start(id)
	}
	lead := c.leader()
	mustAppend(t, lead, &metadata.ClusterRecord{ClusterID: "c1"})
	mustAppend(t, lead, topic("before", 1)...)

	const learner = 3
	ln := c.start(learner)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := lead.AddLearner(ctx, learner, c.addrs[learner]); err != nil {
		t.Fatal(err)
	}
	if err := lead.AddLearner(ctx, learner, c.addrs[learner]); err != nil {
		t.Fatalf("adding it again: %v", err)
	}
	if err := lead.AddLearner(ctx, lead.NodeID(), "127.0.0.1:1"); !errors.Is(err, ErrConfig) {
		t.Fatalf("demoting a voter: %v", err)
	}
	mustAppend(t, lead, topic("after", 1)...)
	c.converged(lead.Image())
	eventually(t, "the learner knows the leader", func() bool { return ln.Leader() == lead.NodeID() })
	st := ln.Status()
	if !st.Learner || len(st.Voters) != 3 || !slices.Equal(st.Learners, []int32{learner}) || st.Members[learner] != c.addrs[learner] {
		t.Fatalf("learner status %+v", st)
	}
	for _, n := range c.running() {
		if got := n.Status().Members[learner]; got != c.addrs[learner] {
			t.Fatalf("node %d has the learner at %q", n.NodeID(), got)
		}
	}

	// The learner restarts and still follows.
	c.stop(learner)
	mustAppend(t, lead, topic("learner down", 1)...)
	ln = c.start(learner)
	waitImage(t, ln, lead.Image())

	// When the leader stops, a voter takes over; the learner never
	// campaigns and follows the new leader.
	oldLead := lead.NodeID()
	c.stop(oldLead)
	lead = c.leader()
	mustAppend(t, lead, topic("new leader", 1)...)
	waitImage(t, ln, lead.Image())
	eventually(t, "the learner follows the new leader", func() bool { return ln.Leader() == lead.NodeID() })
	if st := ln.Status(); st.Role != "StateFollower" || st.Term != lead.Status().Term {
		t.Fatalf("learner role %s in term %d", st.Role, st.Term)
	}
	c.start(oldLead)
	c.converged(lead.Image())

	// Stopping the learner does not affect the quorum.
	c.stop(learner)
	mustAppend(t, lead, topic("without learner", 1)...)

	// Stopping two of three voters does: appends time out.
	for _, n := range c.running() {
		if n != lead {
			c.stop(n.NodeID())
		}
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	err := lead.AppendContext(ctx2, topic("no quorum", 1)...)
	// The leader accepted it at once (it steps down only an election
	// timeout or two later, by CheckQuorum), and it never commits.
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("append without a quorum: %v", err)
	}
	if _, ok := lead.Image().Topic("no quorum"); ok {
		t.Fatal("applied without a quorum")
	}
}

func TestRemoveLearner(t *testing.T) {
	c := newCluster(t, 1, 1, nil)
	c.startAll()
	lead := c.leader()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := lead.AddLearner(ctx, 1, c.addrs[1]); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, lead, topic("a", 1)...)
	c.converged(lead.Image())
	if err := lead.RemoveNode(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := lead.RemoveNode(ctx, 1); err != nil {
		t.Fatalf("removing it again: %v", err)
	}
	st := lead.Status()
	if len(st.Learners) != 0 || len(st.Members) != 1 {
		t.Fatalf("after removal: %+v", st)
	}
	mustAppend(t, lead, topic("b", 1)...)
	if _, ok := c.node(1).Image().Topic("b"); ok {
		t.Fatal("a removed learner still receives the log")
	}
}

func TestLearnerJoinsThroughSnapshot(t *testing.T) {
	c := newCluster(t, 1, 1, func(cfg *Config) {
		cfg.SnapshotEntries = 10
		cfg.CatchUpEntries = -1
	})
	lead := c.start(0)
	for i := range 30 {
		mustAppend(t, lead, topic(fmt.Sprint(i), 1)...)
	}
	ln := c.start(1)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := lead.AddLearner(ctx, 1, c.addrs[1]); err != nil {
		t.Fatal(err)
	}
	waitImage(t, ln, lead.Image())
	if st := ln.Status(); st.SnapshotsReceived == 0 || !st.Learner {
		t.Fatalf("learner status %+v", st)
	}
}
