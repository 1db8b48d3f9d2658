package broker_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/clustertest"
	"github.com/gregor-log/gregor/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
)

// In a three-node cluster with racks a, a and b, CreateTopics and
// CreatePartitions without an assignment put a replica of every partition
// on rack b, spread the preferred leaders evenly, and start each
// partition led by its preferred leader; clients see the racks.
func TestClusterPlacementUsesRacks(t *testing.T) {
	c := clustertest.Start(t, 3, nil)
	c.SetRacks(t, "a", "a", "b")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := c.Admin(t)

	brokers, err := adm.ListBrokers(ctx)
	if err != nil {
		t.Fatalf("ListBrokers: %v", err)
	}
	for _, b := range brokers {
		want := map[int32]string{1: "a", 2: "a", 3: "b"}[b.NodeID]
		if b.Rack == nil || *b.Rack != want {
			t.Errorf("Metadata describes broker %d with rack %v, want %q", b.NodeID, b.Rack, want)
		}
	}

	const topic = "racked"
	if resp, err := adm.CreateTopic(ctx, 3, 2, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("CreateTopic: %v / %v", err, resp.Err)
	}
	checkRackPlacement(t, c, topic, 3)
	// kadm reads the partition count from whichever broker it asks: wait
	// until every node's image has the topic.
	clustertest.WaitFor(t, 30*time.Second, "every node to know the topic", func() bool {
		for _, n := range c.Live() {
			if mt, ok := n.MetadataImage().Topic(topic); !ok || len(mt.Partitions) != 3 {
				return false
			}
		}
		return true
	})
	// A node may still be opening the topic it just learned of: kadm then
	// fails before sending CreatePartitions, and the call is retried.
	clustertest.WaitFor(t, 30*time.Second, "CreatePartitions", func() bool {
		resp, err := adm.CreatePartitions(ctx, 6, topic)
		if err == nil && errors.Is(resp[topic].Err, kerr.UnknownTopicOrPartition) {
			return false
		}
		if err != nil || resp[topic].Err != nil {
			t.Fatalf("CreatePartitions: %v / %v", err, resp[topic].Err)
		}
		return true
	})
	checkRackPlacement(t, c, topic, 9)
}

// checkRackPlacement waits for topic to have n partitions and checks them:
// rack b (node 3) in every one, each node the preferred leader of n/3,
// and the leader the preferred one.
func checkRackPlacement(t *testing.T, c *clustertest.Cluster, topic string, n int) {
	t.Helper()
	var parts []metadata.Partition
	clustertest.WaitFor(t, 30*time.Second, "the partitions in the image", func() bool {
		mt, ok := c.Image().Topic(topic)
		if !ok || len(mt.Partitions) != n {
			return false
		}
		parts = mt.Partitions
		return true
	})
	leads := map[int32]int{}
	for _, p := range parts {
		if len(p.Replicas) != 2 || !slices.Contains(p.Replicas, 3) {
			t.Errorf("partition %d: replicas %v do not span racks a and b", p.Partition, p.Replicas)
		}
		if p.Leader != p.Replicas[0] {
			t.Errorf("partition %d: leader %d, preferred leader %d", p.Partition, p.Leader, p.Replicas[0])
		}
		leads[p.Replicas[0]]++
	}
	for id := int32(1); id <= 3; id++ {
		if leads[id] != n/3 {
			t.Errorf("node %d is the preferred leader of %d of %d partitions: %+v", id, leads[id], n, parts)
		}
	}
}
