package clustertest

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/broker"
	"github.com/gregor-log/gregor/internal/config"
	"github.com/gregor-log/gregor/internal/metadata"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Cluster is a running in-process cluster.
type Cluster struct {
	Nodes []*Node

	// voters is controller.quorum.voters, overrides the caller's configs
	// and logger the nodes' logger: what AddNode gives a new node.
	voters    string
	overrides map[string]string
	logger    *slog.Logger
}

// Node is one broker of the cluster.
type Node struct {
	*broker.Broker
	ID int32
	// Addr is the client listener's host:port.
	Addr   string
	Dir    string
	Config *config.Config
	// Learner: not in controller.quorum.voters, a Raft learner of the
	// metadata quorum (StartWithLearners, AddNode).
	Learner bool
	closed  bool

	overrides map[string]string
	logger    *slog.Logger
}

// Defaults are the configs every node starts with, before the caller's
// overrides: timeouts short enough for a test to see failover quickly.
var Defaults = map[string]string{
	"admin.listener":               "",
	"broker.heartbeat.interval.ms": "100",
	"broker.session.timeout.ms":    "1500",
	"replica.lag.time.max.ms":      "2000",
	"replica.fetch.wait.max.ms":    "100",
	"replica.fetch.backoff.ms":     "50",
	// Close is a crash unless a test turns this on.
	"controlled.shutdown.enable": "false",
}

// Start starts n brokers (node ids 1..n, all controller voters) with the
// given config overrides and waits until a controller is elected.
func Start(t testing.TB, n int, overrides map[string]string) *Cluster {
	t.Helper()
	return StartWithLearners(t, n, 0, overrides)
}

// StartWithLearners starts voters+learners brokers: node ids 1..voters
// are the controller voters (at most 5), the next learners ids are Raft
// learners that join the metadata quorum as a broker added later would.
func StartWithLearners(t testing.TB, voters, learners int, overrides map[string]string) *Cluster {
	t.Helper()
	n := voters + learners
	raftPorts := freePorts(t, n)
	ids := make([]string, voters)
	for i := range voters {
		ids[i] = fmt.Sprintf("%d@%s", i+1, raftPorts[i])
	}
	c := &Cluster{voters: strings.Join(ids, ","), overrides: overrides, logger: testLogger()}
	for i := range n {
		node := c.newNode(t, int32(i+1), raftPorts[i])
		node.Learner = i >= voters
		node.start(t)
		c.Nodes = append(c.Nodes, node)
	}
	return c
}

// newNode prepares node id with the cluster's configs and Raft address
// raftAddr; it is closed at the end of the test.
func (c *Cluster) newNode(t testing.TB, id int32, raftAddr string) *Node {
	ov := map[string]string{}
	for k, v := range Defaults {
		ov[k] = v
	}
	for k, v := range c.overrides {
		ov[k] = v
	}
	ov["node.id"] = fmt.Sprint(id)
	ov["listeners"] = "PLAINTEXT://127.0.0.1:0"
	ov["log.dirs"] = t.TempDir()
	ov["controller.quorum.voters"] = c.voters
	ov["controller.listener"] = raftAddr
	node := &Node{ID: id, overrides: ov, logger: c.logger, closed: true}
	t.Cleanup(node.Close)
	return node
}

func (n *Node) start(t testing.TB) {
	t.Helper()
	cfg := config.Default()
	for k, v := range n.overrides {
		if err := cfg.Set(k, v); err != nil {
			t.Fatalf("clustertest: %v", err)
		}
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("clustertest: %v", err)
	}
	br, err := broker.New(cfg, n.logger)
	if err != nil {
		t.Fatalf("clustertest: node %d: %v", n.ID, err)
	}
	if err := br.Start(context.Background()); err != nil {
		br.Close()
		t.Fatalf("clustertest: node %d: %v", n.ID, err)
	}
	n.Broker, n.Config, n.Dir, n.closed = br, cfg, cfg.LogDir(), false
	n.Addr = br.Addrs()[0].String()
}

// Restart starts a closed node again on the same data directory, Raft
// address and (when it is still free) client port.
func (n *Node) Restart(t testing.TB) {
	t.Helper()
	n.Close()
	n.overrides["log.dirs"] = n.Dir
	n.overrides["listeners"] = "PLAINTEXT://" + n.Addr
	n.start(t)
}

// freePorts returns n loopback host:ports free a moment ago. The Raft
// addresses must be known to every node before any starts, so they are
// picked up front; a port taken in between fails the test, loudly.
func freePorts(t testing.TB, n int) []string {
	t.Helper()
	out := make([]string, n)
	var lns []net.Listener
	for i := range out {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("clustertest: %v", err)
		}
		lns = append(lns, ln)
		out[i] = ln.Addr().String()
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

func testLogger() *slog.Logger {
	var level slog.Level
	switch os.Getenv("CLUSTERTEST_LOG") {
	case "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	case "warn":
		level = slog.LevelWarn
	default:
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// Close closes the node: a crash as far as the others can tell, unless
// the cluster was started with controlled.shutdown.enable=true. Also done
// at the end of the test.
func (n *Node) Close() {
	if n.closed {
		return
	}
	n.closed = true
	n.Broker.Close()
}

// Closed reports whether Close was called.
func (n *Node) Closed() bool { return n.closed }

// Node returns the node with this id.
func (c *Cluster) Node(id int32) *Node {
	for _, n := range c.Nodes {
		if n.ID == id {
			return n
		}
	}
	return nil
}

// Live returns the nodes not closed.
func (c *Cluster) Live() []*Node {
	var out []*Node
	for _, n := range c.Nodes {
		if !n.closed {
			out = append(out, n)
		}
	}
	return out
}

// Bootstrap is the client addresses of the live nodes.
func (c *Cluster) Bootstrap() []string {
	var out []string
	for _, n := range c.Live() {
		out = append(out, n.Addr)
	}
	return out
}

// Client returns a kgo client seeded with every live node, closed at the
// end of the test.
func (c *Cluster) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Bootstrap()...)}, opts...)...)
	if err != nil {
		t.Fatalf("clustertest: kgo client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Admin returns a kadm client of the cluster, closed at the end of the test.
func (c *Cluster) Admin(t testing.TB, opts ...kgo.Opt) *kadm.Client {
	t.Helper()
	return kadm.NewClient(c.Client(t, opts...))
}

// Image is the metadata image of the first live node.
func (c *Cluster) Image() *metadata.Image {
	live := c.Live()
	if len(live) == 0 {
		return nil
	}
	return live[0].MetadataImage()
}

// WaitFor waits up to timeout for cond to hold, failing the test after.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("clustertest: timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, with a deadline
	}
}

// WaitForBrokers waits until every live node's image shows n registered,
// unfenced brokers.
func (c *Cluster) WaitForBrokers(t testing.TB, n int) {
	t.Helper()
	WaitFor(t, 30*time.Second, fmt.Sprintf("%d unfenced brokers", n), func() bool {
		for _, node := range c.Live() {
			unfenced := 0
			for _, b := range node.MetadataImage().Brokers() {
				if !b.Fenced {
					unfenced++
				}
			}
			if unfenced != n {
				return false
			}
		}
		return true
	})
}
