package clustertest

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// AddNode starts a new broker (the next node id) in the running cluster,
// with overrides on top of the cluster's configs: not a voter, it asks the
// active controller to add it to the metadata quorum as a Raft learner,
// receives the metadata, then registers like any broker. It returns once
// the node is started, not once it has joined: wait with WaitForBrokers
// or WaitForLearner.
func (c *Cluster) AddNode(t testing.TB, overrides map[string]string) *Node {
	t.Helper()
	id := int32(0)
	for _, n := range c.Nodes {
		id = max(id, n.ID)
	}
	node := c.newNode(t, id+1, freePorts(t, 1)[0])
	for k, v := range overrides {
		node.overrides[k] = v
	}
	node.Learner = true
	node.start(t)
	c.Nodes = append(c.Nodes, node)
	return node
}

// WaitForLearner waits until the node's own metadata quorum shows it a
// learner that knows the active controller.
func (c *Cluster) WaitForLearner(t testing.TB, id int32) {
	t.Helper()
	n := c.Node(id)
	if n == nil {
		t.Fatalf("clustertest: no node %d", id)
	}
	WaitFor(t, 30*time.Second, fmt.Sprintf("node %d to be a learner of the quorum", id), func() bool {
		st, ok := n.QuorumStatus()
		return ok && st.Learner && st.Leader >= 0 && slices.Contains(st.Learners, id)
	})
}

// Controller is the node id of the active controller as the live nodes
// agree on it, or -1 while they do not (an election, a node behind).
func (c *Cluster) Controller() int32 {
	ctl := int32(-1)
	for i, n := range c.Live() {
		st, ok := n.QuorumStatus()
		if !ok || st.Leader < 0 || (i > 0 && st.Leader != ctl) {
			return -1
		}
		ctl = st.Leader
	}
	return ctl
}

// WaitForController waits until the live nodes agree on the active
// controller and returns its node id.
func (c *Cluster) WaitForController(t testing.TB) int32 {
	t.Helper()
	ctl := int32(-1)
	WaitFor(t, 30*time.Second, "the nodes to agree on a controller", func() bool {
		ctl = c.Controller()
		return ctl >= 0
	})
	return ctl
}
