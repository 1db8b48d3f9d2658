package compat

import (
	"strings"
	"testing"
)

// TestClusterKcat runs kcat (librdkafka) against three nodes: metadata
// lists them, an idempotent acks=all produce and a consume of the whole
// topic route each partition to its own leader.
func TestClusterKcat(t *testing.T) {
	requireTool(t, "kcat", "-V")
	c := startCluster(t)
	const topic = "kcat-cluster"
	createReplicatedTopic(t, c, topic, 3)
	kcatRoundTrip(t, strings.Join(c.Bootstrap(), ","), topic, 3, 3)
}

// TestClusterKcatBalancedConsumer runs kcat -G against three nodes: the
// group is coordinated by whichever node leads its __consumer_offsets
// partition, and commits are resumed by a second run.
func TestClusterKcatBalancedConsumer(t *testing.T) {
	requireTool(t, "kcat", "-V")
	c := startCluster(t)
	const topic = "kcat-cluster-group"
	createReplicatedTopic(t, c, topic, 3)
	kcatGroup(t, strings.Join(c.Bootstrap(), ","), topic, "kcat-cluster-g")
}

// TestClusterConfluentKafkaPython runs testdata/confluent_check.py against
// three nodes, bootstrapped from one of them: the client discovers the
// others from Metadata, creates a topic with three replicas and produces
// to and consumes from each partition's leader.
func TestClusterConfluentKafkaPython(t *testing.T) {
	requireTool(t, "/usr/bin/python3", "-c", "import confluent_kafka")
	c := startCluster(t)
	confluentCheck(t, c.Nodes[1].Addr, "python-cluster", 3, 3)
}
