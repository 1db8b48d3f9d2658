package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// The dev noun: helpers for working on Gregor and on applications against
// it. "dev cluster" runs a local multi-node cluster, one serve process per
// node on loopback: nodes 1..V are the controller voters, the rest Raft
// learners (brokers that join the metadata quorum without voting).

type devClusterOptions struct {
	nodes    int
	voters   int
	dataDir  string
	logLevel string
}

const (
	// maxDevNodes bounds dev cluster: one process per node on one machine.
	maxDevNodes = 16
	// maxDevVoters is the quorum's limit: five voters tolerate two
	// failures, and more would only slow every commit down.
	maxDevVoters = 5
)

// devVoters is how many of nodes are voters when --voters is not given:
// the largest odd number up to five. An even voter count tolerates no
// more failures than the odd one below it (four voters need three for a
// majority, as five do) while every commit waits for one more node, so
// the extra node is better a learner.
func devVoters(nodes int) int {
	v := min(nodes, maxDevVoters)
	if v > 1 && v%2 == 0 {
		v--
	}
	return v
}

func (a *app) devCommand() *cobra.Command {
	var o devClusterOptions
	cluster := &cobra.Command{
		Use:   "cluster",
		Short: "Run a local multi-node cluster (one process per node)",
		Long: `Run a local cluster of --nodes brokers on loopback, each a "gregor serve"
process of this binary with its own data directory and random free ports.
Nodes 1 to --voters are the controller voters (default: the largest odd
number up to five: 1, 3 or 5); the others are Raft learners, brokers that receive the
metadata log and never become the controller. The bootstrap address is
printed once the nodes are started; each node's log is written to
node-<id>.log in the data directory. Ctrl-C (SIGINT) or SIGTERM stops
every node.

Without --data-dir the data lives in a temporary directory removed on exit.`,
		Example: `  gregor dev cluster --nodes 3
  gregor dev cluster --nodes 5 --data-dir ./cluster-data
  gregor dev cluster --nodes 6 --voters 3`,
		Args: exactArgs(),
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			return a.devCluster(cmd.Context(), &o)
		}),
	}
	fs := cluster.Flags()
	fs.IntVar(&o.nodes, "nodes", 3, "number of nodes (1 to 16)")
	fs.IntVar(&o.voters, "voters", 0, "how many of the nodes are controller voters, 1 to 5 (default: the largest odd number up to 5)")
	fs.StringVar(&o.dataDir, "data-dir", "", "directory for the nodes' data (default: a temporary one, removed on exit)")
	fs.StringVar(&o.logLevel, "log-level", "info", "the nodes' log level: debug, info, warn or error")
	return newGroup("dev", "Development helpers (a local multi-node cluster)", "  gregor dev cluster --nodes 3", cluster)
}

// devNode is one serve process of the dev cluster.
type devNode struct {
	id   int
	addr string
	cmd  *exec.Cmd
	log  *os.File
	done chan error
}

func (a *app) devCluster(ctx context.Context, o *devClusterOptions) error {
	if o.nodes < 1 || o.nodes > maxDevNodes {
		return usageErrorf("--nodes must be between 1 and %d, got %d", maxDevNodes, o.nodes)
	}
	voters := o.voters
	if voters == 0 {
		voters = devVoters(o.nodes)
	}
	if voters < 1 || voters > min(o.nodes, maxDevVoters) {
		return usageErrorf("--voters must be between 1 and %d (and at most --nodes), got %d", maxDevVoters, o.voters)
	}
	if _, err := parseLogLevel(o.logLevel); err != nil {
		return usageErrorf("%v", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("dev cluster: finding this binary: %w", err)
	}
	dir := o.dataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "gregor-dev-cluster-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ports, err := devFreePorts(2 * o.nodes)
	if err != nil {
		return err
	}
	voterList := make([]string, voters)
	for i := range voters {
		voterList[i] = fmt.Sprintf("%d@%s", i+1, ports[o.nodes+i])
	}
	var nodes []*devNode
	defer func() { stopDevNodes(nodes) }()
	for i := range o.nodes {
		n := &devNode{id: i + 1, addr: ports[i], done: make(chan error, 1)}
		nodeDir := filepath.Join(dir, "node-"+strconv.Itoa(n.id))
		if n.log, err = os.OpenFile(filepath.Join(dir, "node-"+strconv.Itoa(n.id)+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
			return err
		}
		n.cmd = exec.Command(exe, "serve",
			"--node-id", strconv.Itoa(n.id),
			"--listeners", "PLAINTEXT://"+n.addr,
			"--data-dir", nodeDir,
			"--admin-listener", "",
			"--controller-voters", strings.Join(voterList, ","),
			"--controller-listener", ports[o.nodes+i],
			"--log-level", o.logLevel,
		)
		n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
		if err := n.cmd.Start(); err != nil {
			n.log.Close()
			return fmt.Errorf("dev cluster: starting node %d: %w", n.id, err)
		}
		go func() { n.done <- n.cmd.Wait() }()
		nodes = append(nodes, n)
	}
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.addr
		role := "voter"
		if n.id > voters {
			role = "learner"
		}
		fmt.Fprintf(a.stdout, "node %d: %s (pid %d, %s, log %s)\n", n.id, n.addr, n.cmd.Process.Pid, role, n.log.Name())
	}
	fmt.Fprintf(a.stdout, "bootstrap: %s\n", strings.Join(addrs, ","))
	fmt.Fprintf(a.stdout, "data: %s\nCtrl-C stops the cluster.\n", dir)

	// Run until interrupted. A node that exits (or is killed to try
	// failover) is reported and the others keep running; when none is
	// left, the command fails.
	exited := make(chan string, len(nodes))
	for _, n := range nodes {
		go func() {
			err := <-n.done
			n.done <- err // kept for stopDevNodes
			exited <- fmt.Sprintf("node %d exited: %v (see %s)", n.id, err, n.log.Name())
		}()
	}
	for running := len(nodes); running > 0; running-- {
		select {
		case <-ctx.Done():
			fmt.Fprintln(a.stdout, "stopping the cluster")
			return nil
		case msg := <-exited:
			fmt.Fprintln(a.stderr, msg)
		}
	}
	return errors.New("dev cluster: every node exited")
}

// devStopTimeout is how long a node has to shut down cleanly after
// SIGTERM before it is killed.
const devStopTimeout = 15 * time.Second

// stopDevNodes sends SIGTERM to every node still running, waits for them
// (killing those that outlive devStopTimeout) and closes their logs.
func stopDevNodes(nodes []*devNode) {
	for _, n := range nodes {
		n.cmd.Process.Signal(syscall.SIGTERM)
	}
	deadline := time.After(devStopTimeout)
	for _, n := range nodes {
		select {
		case <-n.done:
		case <-deadline:
			n.cmd.Process.Kill()
			<-n.done
		}
		n.log.Close()
	}
}

// devFreePorts returns n loopback host:ports that were free a moment ago
// (every node must know every Raft address before any starts).
func devFreePorts(n int) ([]string, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	out := make([]string, n)
	for i := range out {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("dev cluster: %w", err)
		}
		lns = append(lns, ln)
		out[i] = ln.Addr().String()
	}
	return out, nil
}
