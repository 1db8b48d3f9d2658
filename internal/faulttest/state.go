package faulttest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// PartitionState is a partition as one node's Metadata answer shows it.
type PartitionState struct {
	Partition   int32
	Leader      int32
	LeaderEpoch int32
	Replicas    []int32
	ISR         []int32
}

func (p PartitionState) String() string {
	return fmt.Sprintf("p%d leader %d epoch %d isr %v", p.Partition, p.Leader, p.LeaderEpoch, p.ISR)
}

// requestTimeout bounds one request of the harness to one node: a
// stopped or partitioned node must not hang a wait loop.
const requestTimeout = 2 * time.Second

// Request sends req to node id itself (not wherever the client would
// route it) and returns its answer.
func (c *Cluster) Request(ctx context.Context, id int32, req kmsg.Request) (kmsg.Response, error) {
	n := c.Node(id)
	seeds := n.client.SeedBrokers()
	if len(seeds) == 0 {
		return nil, errors.New("faulttest: no seed broker")
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	return seeds[0].Request(ctx, req)
}

// Partitions returns topic's partitions as node id's Metadata shows them,
// and the controller that node names.
func (c *Cluster) Partitions(ctx context.Context, id int32, topic string) (parts []PartitionState, controller int32, err error) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := c.Request(ctx, id, req)
	if err != nil {
		return nil, -1, err
	}
	m := resp.(*kmsg.MetadataResponse)
	if len(m.Topics) != 1 {
		return nil, m.ControllerID, fmt.Errorf("faulttest: metadata of %d topics", len(m.Topics))
	}
	if err := kerr.ErrorForCode(m.Topics[0].ErrorCode); err != nil {
		return nil, m.ControllerID, err
	}
	for _, p := range m.Topics[0].Partitions {
		parts = append(parts, PartitionState{Partition: p.Partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch,
			Replicas: slices.Clone(p.Replicas), ISR: slices.Sorted(slices.Values(p.ISR))})
	}
	slices.SortFunc(parts, func(a, b PartitionState) int { return int(a.Partition - b.Partition) })
	return parts, m.ControllerID, nil
}

// healthy is whether node n can answer and speak for the majority: it
// runs, is not stopped and is not cut off.
func (c *Cluster) healthy(n *Node) bool {
	return n.Running() && !n.Stopped() && !c.CutOff(n.ID)
}

// View is topic's partitions as the first healthy node answering sees
// them (after a change the nodes' images agree within milliseconds).
func (c *Cluster) View(ctx context.Context, topic string) ([]PartitionState, error) {
	var errs []error
	for _, n := range c.Nodes {
		if !c.healthy(n) {
			continue
		}
		parts, _, err := c.Partitions(ctx, n.ID, topic)
		if err == nil {
			return parts, nil
		}
		errs = append(errs, fmt.Errorf("node %d: %w", n.ID, err))
	}
	return nil, fmt.Errorf("faulttest: no healthy node answered: %w", errors.Join(errs...))
}

// Describe is every running, unstopped node's view of topic, for failure
// messages.
func (c *Cluster) Describe(topic string) string {
	var sb strings.Builder
	for _, n := range c.Nodes {
		switch {
		case !n.Running():
			fmt.Fprintf(&sb, "\n  node %d: down", n.ID)
			continue
		case n.Stopped():
			fmt.Fprintf(&sb, "\n  node %d: SIGSTOPped", n.ID)
			continue
		}
		parts, ctl, err := c.Partitions(context.Background(), n.ID, topic)
		iso := ""
		if c.CutOff(n.ID) {
			iso = " (cut off)"
		}
		if err != nil {
			fmt.Fprintf(&sb, "\n  node %d%s: %v", n.ID, iso, err)
			continue
		}
		fmt.Fprintf(&sb, "\n  node %d%s: controller %d, %v", n.ID, iso, ctl, parts)
	}
	return sb.String()
}

// waitPoll is how often WaitFor re-checks its condition.
const waitPoll = 50 * time.Millisecond

// WaitFor re-checks cond until it holds, failing the test after timeout
// with what and the cluster's view of topic.
func (c *Cluster) WaitFor(timeout time.Duration, topic, what string, cond func(ctx context.Context) bool) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for !cond(ctx) {
		select {
		case <-ctx.Done():
			c.t.Fatalf("faulttest: timed out after %v waiting for %s; cluster:%s", timeout, what, c.Describe(topic))
		case <-time.After(waitPoll): // polling a condition, with a deadline
		}
	}
}

// WaitPartitions waits until the healthy nodes' view of topic satisfies
// cond for every partition, and returns that view.
func (c *Cluster) WaitPartitions(timeout time.Duration, topic, what string, cond func(PartitionState) bool) []PartitionState {
	c.t.Helper()
	var last []PartitionState
	c.WaitFor(timeout, topic, what, func(ctx context.Context) bool {
		parts, err := c.View(ctx, topic)
		if err != nil || len(parts) == 0 {
			return false
		}
		for _, p := range parts {
			if !cond(p) {
				return false
			}
		}
		last = parts
		return true
	})
	return last
}

// FullISR is a condition for WaitPartitions: a leader and every replica
// in the ISR.
func FullISR(p PartitionState) bool {
	return p.Leader >= 0 && len(p.ISR) == len(p.Replicas) && len(p.Replicas) > 0
}
