package faulttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Defaults are the broker configs of every node before a test's
// overrides: timeouts short enough that fencing, ISR changes and
// elections happen within a couple of seconds, and controlled shutdown on
// (SIGTERM is the graceful stop; SIGKILL the crash).
var Defaults = map[string]string{
	"admin.listener":               "",
	"broker.heartbeat.interval.ms": "200",
	"broker.session.timeout.ms":    "2000",
	"replica.lag.time.max.ms":      "1500",
	"replica.fetch.wait.max.ms":    "100",
	"replica.fetch.backoff.ms":     "50",
	"controlled.shutdown.enable":   "true",
	"default.replication.factor":   "3",
	"min.insync.replicas":          "2",
	"auto.create.topics.enable":    "false",
}

// Cluster is a cluster of broker processes (the test binary re-executed)
// whose inter-node links all go through Proxies in the test process.
type Cluster struct {
	t     testing.TB
	Nodes []*Node
	// links[from][to] are the proxies of the link from node from to node
	// to: its Kafka listener and its Raft listener.
	links map[int32]map[int32][2]*Proxy

	mu struct {
		sync.Mutex
		cutOff map[int32]bool // by Isolate, Sever or StallNode, until Heal
	}
}

// Node is one broker process of a Cluster. Its addresses and data
// directory survive restarts.
type Node struct {
	ID int32
	// Addr is the client (Kafka) listener, which the test's clients dial
	// directly.
	Addr string
	// RaftAddr is the Raft transport's listener.
	RaftAddr string
	// Dir is the log.dirs of the node, kept across restarts.
	Dir string

	spec childSpec
	log  *tailBuffer
	// client is seeded with this node only, for requests that must go to
	// it (Metadata as it sees the cluster, a produce to it).
	client *kgo.Client

	mu struct {
		sync.Mutex
		cmd     *exec.Cmd
		exited  chan struct{} // closed when cmd has been waited for
		stopped bool          // SIGSTOPped
		// ending: the harness sent SIGKILL or SIGTERM, so an exit is
		// expected; surprises lists exits that were not.
		ending    bool
		surprises []string
	}
}

// Start starts n nodes (ids 1..n, all Raft voters) with Defaults and the
// given overrides, and returns once each reported its listener. Every
// process is killed and every proxy closed when the test ends; the nodes'
// logs are printed if it failed.
func Start(t testing.TB, n int, overrides map[string]string) *Cluster {
	t.Helper()
	ports := freePorts(t, 2*n)
	c := &Cluster{t: t, links: map[int32]map[int32][2]*Proxy{}}
	c.mu.cutOff = map[int32]bool{}
	var voters []string
	for i := range n {
		node := &Node{ID: int32(i + 1), Addr: ports[2*i], RaftAddr: ports[2*i+1], Dir: t.TempDir(), log: newTailBuffer(logTailBytes)}
		c.Nodes = append(c.Nodes, node)
		voters = append(voters, fmt.Sprintf("%d@%s", node.ID, node.RaftAddr))
	}
	t.Cleanup(func() { c.cleanup() })
	for _, from := range c.Nodes {
		c.links[from.ID] = map[int32][2]*Proxy{}
		for _, to := range c.Nodes {
			if to == from {
				continue
			}
			var pair [2]*Proxy
			for k, target := range []string{to.Addr, to.RaftAddr} {
				p, err := NewProxy(target)
				if err != nil {
					t.Fatalf("faulttest: proxy: %v", err)
				}
				pair[k] = p
			}
			c.links[from.ID][to.ID] = pair
		}
	}
	level := os.Getenv("FAULTTEST_LOG")
	if level == "" {
		level = "info"
	}
	for _, node := range c.Nodes {
		cfg := map[string]string{}
		for k, v := range Defaults {
			cfg[k] = v
		}
		for k, v := range overrides {
			cfg[k] = v
		}
		cfg["node.id"] = fmt.Sprint(node.ID)
		cfg["listeners"] = "PLAINTEXT://" + node.Addr
		cfg["log.dirs"] = node.Dir
		cfg["controller.quorum.voters"] = strings.Join(voters, ",")
		cfg["controller.listener"] = node.RaftAddr
		links := map[string]string{}
		for _, pair := range c.links[node.ID] {
			links[pair[0].Target()] = pair[0].Addr()
			links[pair[1].Target()] = pair[1].Addr()
		}
		node.spec = childSpec{Config: cfg, Links: links, LogLevel: level}
		cl, err := kgo.NewClient(kgo.SeedBrokers(node.Addr), kgo.RequestRetries(0))
		if err != nil {
			t.Fatalf("faulttest: %v", err)
		}
		node.client = cl
	}
	for _, node := range c.Nodes {
		c.launch(node)
	}
	return c
}

// logTailBytes is how much of each node's stderr a failed test shows.
const logTailBytes = 256 << 10

// Node returns the node with this id; it fails the test if there is none.
func (c *Cluster) Node(id int32) *Node {
	for _, n := range c.Nodes {
		if n.ID == id {
			return n
		}
	}
	c.t.Fatalf("faulttest: no node %d", id)
	return nil
}

// Bootstrap is every node's client address.
func (c *Cluster) Bootstrap() []string {
	var out []string
	for _, n := range c.Nodes {
		out = append(out, n.Addr)
	}
	return out
}

// launch starts node's process and waits until it reports its listener.
func (c *Cluster) launch(n *Node) {
	c.t.Helper()
	spec, err := json.Marshal(n.spec)
	if err != nil {
		c.t.Fatalf("faulttest: %v", err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
	addr := make(chan string, 1)
	cmd.Stdout = &lineWatcher{prefix: "listening ", found: addr}
	cmd.Stderr = n.log
	// The child's stdin is a lifeline: the write end lives in this
	// process until the child exits, so if the test binary dies without
	// its cleanups (a -timeout panic) the child reads EOF and exits
	// instead of serving forever.
	lifeline, keep, err := os.Pipe()
	if err != nil {
		c.t.Fatalf("faulttest: %v", err)
	}
	cmd.Stdin = lifeline
	fmt.Fprintf(n.log, "=== faulttest: starting node %d\n", n.ID)
	err = cmd.Start()
	lifeline.Close()
	if err != nil {
		keep.Close()
		c.t.Fatalf("faulttest: starting node %d: %v", n.ID, err)
	}
	exited := make(chan struct{})
	n.mu.Lock()
	n.mu.cmd, n.mu.exited, n.mu.stopped, n.mu.ending = cmd, exited, false, false
	n.mu.Unlock()
	go func() {
		err := cmd.Wait()
		keep.Close()
		n.mu.Lock()
		if !n.mu.ending {
			n.mu.surprises = append(n.mu.surprises, fmt.Sprintf("node %d exited by itself: %v", n.ID, err))
		}
		n.mu.Unlock()
		close(exited)
	}()
	select {
	case a := <-addr:
		if a != n.Addr {
			c.t.Fatalf("faulttest: node %d listens on %s, want %s", n.ID, a, n.Addr)
		}
	case <-exited:
		c.t.Fatalf("faulttest: node %d exited before listening (%v); log:\n%s", n.ID, cmd.ProcessState, n.log.String())
	case <-time.After(30 * time.Second):
		c.t.Fatalf("faulttest: node %d did not report its listener in 30s", n.ID)
	}
}

// Running reports whether the node's process is alive (stopped or not).
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.cmd == nil {
		return false
	}
	select {
	case <-n.mu.exited:
		return false
	default:
		return true
	}
}

// Stopped reports whether the node is SIGSTOPped.
func (n *Node) Stopped() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.stopped
}

func (n *Node) signal(sig syscall.Signal) (exited chan struct{}, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.cmd == nil {
		return nil, fmt.Errorf("node %d was never started", n.ID)
	}
	switch sig {
	case syscall.SIGSTOP:
		n.mu.stopped = true
	case syscall.SIGCONT:
		n.mu.stopped = false
	case syscall.SIGKILL, syscall.SIGTERM:
		n.mu.ending = true
	}
	fmt.Fprintf(n.log, "=== faulttest: signal %q to node %d\n", sig, n.ID)
	return n.mu.exited, n.mu.cmd.Process.Signal(sig)
}

// Kill9 crashes node id (SIGKILL) and waits until the process is gone.
func (c *Cluster) Kill9(id int32) {
	c.t.Helper()
	exited, err := c.Node(id).signal(syscall.SIGKILL)
	if err != nil {
		c.t.Fatalf("faulttest: kill -9 node %d: %v", id, err)
	}
	<-exited
}

// Term stops node id gracefully (SIGTERM: controlled shutdown, then
// close) and waits for it to exit.
func (c *Cluster) Term(id int32) {
	c.t.Helper()
	exited, err := c.Node(id).signal(syscall.SIGTERM)
	if err != nil {
		c.t.Fatalf("faulttest: SIGTERM node %d: %v", id, err)
	}
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		c.t.Fatalf("faulttest: node %d still running 30s after SIGTERM", id)
	}
	n := c.Node(id)
	n.mu.Lock()
	state := n.mu.cmd.ProcessState
	n.mu.Unlock()
	if !state.Success() {
		c.t.Fatalf("faulttest: node %d did not close cleanly after SIGTERM: %v", id, state)
	}
}

// Stop freezes node id (SIGSTOP): its sockets stay open, it answers
// nothing.
func (c *Cluster) Stop(id int32) {
	c.t.Helper()
	if _, err := c.Node(id).signal(syscall.SIGSTOP); err != nil {
		c.t.Fatalf("faulttest: SIGSTOP node %d: %v", id, err)
	}
}

// Cont resumes a stopped node (SIGCONT).
func (c *Cluster) Cont(id int32) {
	c.t.Helper()
	if _, err := c.Node(id).signal(syscall.SIGCONT); err != nil {
		c.t.Fatalf("faulttest: SIGCONT node %d: %v", id, err)
	}
}

// Restart starts node id again, after Kill9 or Term, on the same data
// directory and addresses.
func (c *Cluster) Restart(id int32) {
	c.t.Helper()
	n := c.Node(id)
	if n.Running() {
		c.t.Fatalf("faulttest: restart of node %d, which still runs", id)
	}
	c.launch(n)
}

// Isolate cuts every link to and from node id: the other nodes can no
// longer reach it, nor it them. Clients still can (they dial directly).
func (c *Cluster) Isolate(id int32) {
	var peers []int32
	for _, n := range c.Nodes {
		if n.ID != id {
			peers = append(peers, n.ID)
		}
	}
	c.Sever(id, peers...)
}

// Sever cuts the links between node id and each of peers, both ways (a
// partial partition when peers are not all the others). Node id counts as
// cut off until Heal: its view of the cluster may be stale, so View asks
// the others.
func (c *Cluster) Sever(id int32, peers ...int32) {
	for _, peer := range peers {
		for _, p := range c.links[id][peer] {
			p.Cut()
		}
		for _, p := range c.links[peer][id] {
			p.Cut()
		}
	}
	c.mu.Lock()
	c.mu.cutOff[id] = true
	c.mu.Unlock()
	c.note(fmt.Sprintf("node %d cut off from nodes %v", id, peers))
}

// SlowLink delays by d every byte of the connections node from opens to
// node to (its requests and their answers: follower fetches, requests to
// the controller, Raft messages), until Heal of either node. The
// connections to opens to from are not slowed: that is SlowLink(to, from).
func (c *Cluster) SlowLink(from, to int32, d time.Duration) {
	for _, p := range c.links[from][to] {
		p.Delay(d)
	}
	c.note(fmt.Sprintf("link from node %d to node %d delayed by %v", from, to, d))
}

// StallNode stalls every link to and from node id: their connections
// stay open and new ones are accepted, but nothing crosses either way
// until Heal, which delivers what was held (see Proxy.Stall). Clients
// still reach the node directly. Like Isolate, it counts as cut off.
func (c *Cluster) StallNode(id int32) {
	for from, tos := range c.links {
		for to, pair := range tos {
			if from == id || to == id {
				pair[0].Stall()
				pair[1].Stall()
			}
		}
	}
	c.mu.Lock()
	c.mu.cutOff[id] = true
	c.mu.Unlock()
	c.note(fmt.Sprintf("node %d's links stalled", id))
}

// Heal restores every link to and from node id, whatever its fault (cut,
// delayed or stalled), except the links to a node that is itself still
// cut off (isolated, severed or stalled): that node's fault stays whole
// until its own Heal, so overlapping faults (TestChaos) do not undo each
// other.
func (c *Cluster) Heal(id int32) {
	c.mu.Lock()
	delete(c.mu.cutOff, id)
	struck := maps.Clone(c.mu.cutOff)
	c.mu.Unlock()
	for from, tos := range c.links {
		for to, pair := range tos {
			if (from == id && !struck[to]) || (to == id && !struck[from]) {
				pair[0].Heal()
				pair[1].Heal()
			}
		}
	}
	c.note(fmt.Sprintf("node %d healed", id))
}

// note writes a harness event into every node's log, to read the logs
// against the test's steps.
func (c *Cluster) note(event string) {
	for _, n := range c.Nodes {
		fmt.Fprintf(n.log, "=== faulttest: %s\n", event)
	}
}

// CutOff reports whether node id is isolated, severed or stalled (until
// Heal).
func (c *Cluster) CutOff(id int32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.cutOff[id]
}

// cleanup kills what still runs and closes the proxies; after a failure it
// prints the tail of every node's log.
func (c *Cluster) cleanup() {
	for _, n := range c.Nodes {
		n.mu.Lock()
		cmd, exited := n.mu.cmd, n.mu.exited
		n.mu.Unlock()
		if cmd != nil {
			n.signal(syscall.SIGKILL)
			<-exited
		}
		n.mu.Lock()
		surprises := n.mu.surprises
		n.mu.Unlock()
		for _, s := range surprises {
			c.t.Errorf("faulttest: %s", s)
		}
		for _, a := range n.log.Alarms() {
			c.t.Errorf("faulttest: node %d logged %q", n.ID, a)
		}
		if n.client != nil {
			n.client.Close()
		}
	}
	for _, tos := range c.links {
		for _, pair := range tos {
			pair[0].Close()
			pair[1].Close()
		}
	}
	if c.t.Failed() {
		for _, n := range c.Nodes {
			c.t.Logf("---- node %d log (last %d KiB) ----\n%s", n.ID, logTailBytes>>10, n.log.String())
		}
	}
}

// freePorts returns n loopback host:ports free a moment ago. A restarted
// node must keep its addresses, and every node must know the others' Raft
// addresses before any starts, so they are picked up front.
//
// They are picked below the kernel's ephemeral port range: a port handed
// out for a ":0" listen (the proxies, other tests) or as the local end of
// an outgoing connection is never one of them, so a node finds its ports
// free when it starts and when it restarts after a kill. Ports from ":0"
// are the fallback where the range is unknown or starts too low.
func freePorts(t testing.TB, n int) []string {
	t.Helper()
	low := ephemeralLow()
	const floor = 10000 // clear of well-known and commonly configured ports
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	out := make([]string, 0, n)
	for tries := 0; len(out) < n && low-floor > 1000 && tries < 1000; tries++ {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", floor+rand.IntN(low-floor)))
		if err != nil {
			continue // taken: try another
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	for len(out) < n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("faulttest: %v", err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	return out
}

// ephemeralLow is the first port of Linux's ephemeral range, or 0 when
// it cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	var low, high int
	if _, err := fmt.Sscan(string(b), &low, &high); err != nil {
		return 0
	}
	return low
}

// tailBuffer keeps the last max bytes written to it, and notes the
// alarms (a data race report, a panic) seen in all that was written.
type tailBuffer struct {
	mu     sync.Mutex
	buf    []byte
	max    int
	alarms []string
	// scanned is how much of buf was searched for alarms.
	scanned int
}

// alarmMarks are what a child writes to stderr when it is broken, even
// if the test goes on to pass: the race detector's report goes to stderr
// and its exit status is lost to SIGKILL.
var alarmMarks = []string{"WARNING: DATA RACE", "panic: ", "fatal error: "}

// maxAlarms bounds the alarms kept: the first few tell the story.
const maxAlarms = 8

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	// Search only whole lines, so a mark split across writes is found.
	if end := bytes.LastIndexByte(b.buf, '\n'); end >= b.scanned {
		for _, line := range bytes.Split(b.buf[b.scanned:end], []byte{'\n'}) {
			for _, m := range alarmMarks {
				if bytes.Contains(line, []byte(m)) && len(b.alarms) < maxAlarms {
					b.alarms = append(b.alarms, string(line))
				}
			}
		}
		b.scanned = end + 1
	}
	if len(b.buf) > 2*b.max {
		// Trim by halves, not per write: one copy per max bytes logged.
		cut := len(b.buf) - b.max
		b.buf = slices.Delete(b.buf, 0, cut)
		b.scanned = max(0, b.scanned-cut)
	}
	return len(p), nil
}

// Alarms returns the alarm lines seen.
func (b *tailBuffer) Alarms() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.alarms)
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf[max(0, len(b.buf)-b.max):])
}

// lineWatcher is a child's stdout: it sends the rest of the first line
// starting with prefix (the listener address) to found.
type lineWatcher struct {
	prefix string
	found  chan<- string
	line   []byte
	sent   bool
}

func (w *lineWatcher) Write(p []byte) (int, error) {
	w.line = append(w.line, p...)
	for {
		i := bytes.IndexByte(w.line, '\n')
		if i < 0 {
			break
		}
		l := string(w.line[:i])
		w.line = w.line[i+1:]
		if a, ok := strings.CutPrefix(l, w.prefix); ok && !w.sent {
			w.sent = true
			w.found <- a
		}
	}
	if len(w.line) > 4096 {
		w.line = w.line[:0] // no address line is that long
	}
	return len(p), nil
}
