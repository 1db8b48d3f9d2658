package broker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/clustertest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Clients send config changes to any broker (kgo and librdkafka pick one
// at random for a topic resource) and may hold a stale controller for
// topic admin: a node that is not the controller forwards these requests
// to it (KIP-590) instead of answering NOT_CONTROLLER. Each request here
// goes to a node that is not the controller, and must take effect.
func TestClusterAdminRequestsForwarded(t *testing.T) {
	c := clustertest.Start(t, 3, nil)
	c.WaitForBrokers(t, 3)
	ctl := c.WaitForController(t)
	var other *clustertest.Node
	for _, n := range c.Live() {
		if n.ID != ctl {
			other = n
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	br := c.Client(t, kgo.SeedBrokers(other.Addr)).Broker(int(other.ID))
	const topic = "forwarded"
	str := func(s string) *string { return &s }

	create := kmsg.NewPtrCreateTopicsRequest()
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = topic, 2, 3
	create.Topics = append(create.Topics, ct)
	create.TimeoutMillis = 30_000
	if resp, err := create.RequestWith(ctx, br); err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("CreateTopics through node %d: %v %+v", other.ID, err, resp)
	}
	waitImage(t, c, "the topic", func(n *clustertest.Node) bool {
		mt, ok := n.MetadataImage().Topic(topic)
		return ok && len(mt.Partitions) == 2
	})

	inc := kmsg.NewPtrIncrementalAlterConfigsRequest()
	ir := kmsg.NewIncrementalAlterConfigsRequestResource()
	ir.ResourceType, ir.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	ic := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	ic.Name, ic.Value = "retention.ms", str("12345")
	ir.Configs = append(ir.Configs, ic)
	inc.Resources = append(inc.Resources, ir)
	if resp, err := inc.RequestWith(ctx, br); err != nil || resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("IncrementalAlterConfigs through node %d: %v %+v", other.ID, err, resp)
	}
	waitImage(t, c, "retention.ms=12345", func(n *clustertest.Node) bool {
		mt, _ := n.MetadataImage().Topic(topic)
		return mt.Configs["retention.ms"] == "12345"
	})

	alter := kmsg.NewPtrAlterConfigsRequest()
	ar := kmsg.NewAlterConfigsRequestResource()
	ar.ResourceType, ar.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	ac := kmsg.NewAlterConfigsRequestResourceConfig()
	ac.Name, ac.Value = "retention.ms", str("54321")
	ar.Configs = append(ar.Configs, ac)
	alter.Resources = append(alter.Resources, ar)
	if resp, err := alter.RequestWith(ctx, br); err != nil || resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("AlterConfigs through node %d: %v %+v", other.ID, err, resp)
	}
	waitImage(t, c, "retention.ms=54321", func(n *clustertest.Node) bool {
		mt, _ := n.MetadataImage().Topic(topic)
		return mt.Configs["retention.ms"] == "54321"
	})

	// A bad value is still refused, by the controller, with its message.
	ic.Value = str("not a number")
	inc.Resources[0].Configs[0] = ic
	if resp, err := inc.RequestWith(ctx, br); err != nil || resp.Resources[0].ErrorCode == 0 {
		t.Fatalf("a bad value through node %d was accepted: %v %+v", other.ID, err, resp)
	}

	more := kmsg.NewPtrCreatePartitionsRequest()
	mt := kmsg.NewCreatePartitionsRequestTopic()
	mt.Topic, mt.Count = topic, 4
	more.Topics = append(more.Topics, mt)
	more.TimeoutMillis = 30_000
	if resp, err := more.RequestWith(ctx, br); err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("CreatePartitions through node %d: %v %+v", other.ID, err, resp)
	}
	waitImage(t, c, "4 partitions", func(n *clustertest.Node) bool {
		mt, ok := n.MetadataImage().Topic(topic)
		return ok && len(mt.Partitions) == 4
	})

	// kadm sends topic config changes to a random broker: every attempt
	// succeeds whichever node it reaches.
	adm := c.Admin(t)
	for i := range 6 {
		v := fmt.Sprint(100000 + i)
		rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: &v}}, topic)
		if err == nil {
			_, err = rs.On(topic, nil)
		}
		if err != nil {
			t.Fatalf("kadm AlterTopicConfigs #%d: %v", i, err)
		}
	}

	del := kmsg.NewPtrDeleteTopicsRequest()
	dt := kmsg.NewDeleteTopicsRequestTopic()
	dt.Topic = str(topic)
	del.Topics = append(del.Topics, dt)
	del.TopicNames = append(del.TopicNames, topic)
	del.TimeoutMillis = 30_000
	if resp, err := del.RequestWith(ctx, br); err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("DeleteTopics through node %d: %v %+v", other.ID, err, resp)
	}
	waitImage(t, c, "the topic gone", func(n *clustertest.Node) bool {
		_, ok := n.MetadataImage().Topic(topic)
		return !ok
	})
}

// waitImage waits until every live node's metadata image satisfies ok.
func waitImage(t *testing.T, c *clustertest.Cluster, what string, ok func(*clustertest.Node) bool) {
	t.Helper()
	for _, n := range c.Live() {
		clustertest.WaitFor(t, 30*time.Second, what+" on node "+fmt.Sprint(n.ID), func() bool { return ok(n) })
	}
}
