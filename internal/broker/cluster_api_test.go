package broker_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/clustertest"
	"github.com/gregor-log/gregor/internal/metadata"
	"github.com/gregor-log/gregor/internal/testbroker"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// clusterOnlyAPIs are served only with controller voters configured.
var clusterOnlyAPIs = []int16{int16(kmsg.ElectLeaders), int16(kmsg.DescribeQuorum), int16(kmsg.UnregisterBroker), int16(kmsg.AllocateProducerIDs), int16(kmsg.AlterPartition), int16(kmsg.BrokerRegistration), int16(kmsg.BrokerHeartbeat)}

// seedRequest sends req to the broker at addr itself (not routed by the
// client to a leader or the controller).
func seedRequest(t *testing.T, addr string, req kmsg.Request) kmsg.Response {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		t.Fatalf("%T: %v", req, err)
	}
	return resp
}

func advertised(t *testing.T, addr string) []int16 {
	resp := seedRequest(t, addr, kmsg.NewPtrApiVersionsRequest()).(*kmsg.ApiVersionsResponse)
	var keys []int16
	for _, k := range resp.ApiKeys {
		keys = append(keys, k.ApiKey)
	}
	return keys
}

// A single node neither advertises nor serves the cluster's APIs; a
// clustered node advertises them.
func TestClusterAPIsOnlyInACluster(t *testing.T) {
	single := testbroker.Start(t, nil)
	for _, k := range clusterOnlyAPIs {
		if slices.Contains(advertised(t, single.Addr), k) {
			t.Errorf("a single node advertises %s", kmsg.NameForKey(k))
		}
	}
	c := clustertest.Start(t, 3, nil)
	c.WaitForBrokers(t, 3)
	for _, k := range clusterOnlyAPIs {
		if !slices.Contains(advertised(t, c.Nodes[0].Addr), k) {
			t.Errorf("a clustered node does not advertise %s", kmsg.NameForKey(k))
		}
	}

	// Metadata names the active controller on every node, and a node
	// that is not the controller forwards CreateTopics to it (KIP-590)
	// rather than refusing it with NOT_CONTROLLER.
	md := seedRequest(t, c.Nodes[0].Addr, kmsg.NewPtrMetadataRequest()).(*kmsg.MetadataResponse)
	ctl := md.ControllerID
	if c.Node(ctl) == nil {
		t.Fatalf("Metadata names controller %d, not a node of the cluster", ctl)
	}
	for _, n := range c.Nodes {
		if n.ID == ctl {
			continue
		}
		req := kmsg.NewPtrCreateTopicsRequest()
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = fmt.Sprintf("elsewhere-%d", n.ID), 1, 1
		req.Topics = append(req.Topics, rt)
		resp := seedRequest(t, n.Addr, req).(*kmsg.CreateTopicsResponse)
		if got := resp.Topics[0].ErrorCode; got != 0 {
			t.Errorf("CreateTopics on node %d (controller %d): error %v, want it forwarded and done", n.ID, ctl, kerr.ErrorForCode(got))
		}
		hb := kmsg.NewPtrBrokerHeartbeatRequest()
		hb.BrokerID, hb.BrokerEpoch = n.ID, 1
		if got := seedRequest(t, n.Addr, hb).(*kmsg.BrokerHeartbeatResponse).ErrorCode; got != kerr.NotController.Code {
			t.Errorf("BrokerHeartbeat on node %d: error %v, want NOT_CONTROLLER", n.ID, kerr.ErrorForCode(got))
		}
		// Admin requests only the controller decides are forwarded to it
		// (KIP-590), since admin clients with a stale controller do not
		// all retry NOT_CONTROLLER.
		el := kmsg.NewPtrElectLeadersRequest()
		el.ElectionType = 0 // preferred
		et := kmsg.NewElectLeadersRequestTopic()
		et.Topic, et.Partitions = "__no_such_topic", []int32{0}
		el.Topics = append(el.Topics, et)
		er := seedRequest(t, n.Addr, el).(*kmsg.ElectLeadersResponse)
		if er.ErrorCode != 0 || len(er.Topics) != 1 || er.Topics[0].Partitions[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Errorf("ElectLeaders on node %d (controller %d) was not forwarded: %+v", n.ID, ctl, er)
		}
		lr := seedRequest(t, n.Addr, kmsg.NewPtrListPartitionReassignmentsRequest()).(*kmsg.ListPartitionReassignmentsResponse)
		if lr.ErrorCode != 0 {
			t.Errorf("ListPartitionReassignments on node %d (controller %d): %v, want it forwarded", n.ID, ctl, kerr.ErrorForCode(lr.ErrorCode))
		}
	}

	// Producer ids are unique across the cluster: every broker takes its
	// blocks from the controller.
	seen := map[int64]int32{}
	for range 2 {
		for _, n := range c.Nodes {
			resp := seedRequest(t, n.Addr, kmsg.NewPtrInitProducerIDRequest()).(*kmsg.InitProducerIDResponse)
			if resp.ErrorCode != 0 {
				t.Fatalf("InitProducerID on node %d: %v", n.ID, kerr.ErrorForCode(resp.ErrorCode))
			}
			if other, dup := seen[resp.ProducerID]; dup {
				t.Fatalf("producer id %d given by nodes %d and %d", resp.ProducerID, other, n.ID)
			}
			seen[resp.ProducerID] = n.ID
		}
	}

	// ElectLeaders reaches the controller: the preferred replica already
	// leads a new topic, so no election is needed.
	adm := c.Admin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, 2, 3, nil, "elect"); err != nil {
		t.Fatal(err)
	}
	clustertest.WaitFor(t, 30*time.Second, "topic elect", func() bool { _, ok := c.Image().Topic("elect"); return ok })
	res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"elect": {0: {}, 1: {}}})
	if err != nil {
		t.Fatalf("ElectLeaders: %v", err)
	}
	for _, ps := range res {
		for p, r := range ps {
			if !errors.Is(r.Err, kerr.ElectionNotNeeded) {
				t.Errorf("ElectLeaders elect-%d: %v, want ELECTION_NOT_NEEDED", p, r.Err)
			}
		}
	}
}

// Metadata's auto-creation works on every node: a node that is not the
// controller forwards the creation to it.
func TestClusterAutoCreateOnAnyNode(t *testing.T) {
	c := clustertest.Start(t, 3, nil)
	c.WaitForBrokers(t, 3)
	ctl := seedRequest(t, c.Nodes[0].Addr, kmsg.NewPtrMetadataRequest()).(*kmsg.MetadataResponse).ControllerID
	for _, n := range c.Nodes {
		if n.ID == ctl {
			continue
		}
		topic := fmt.Sprintf("auto-%d", n.ID)
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = &topic
		req.Topics = append(req.Topics, rt)
		req.AllowAutoTopicCreation = true
		resp := seedRequest(t, n.Addr, req).(*kmsg.MetadataResponse)
		if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 || len(resp.Topics[0].Partitions) == 0 {
			t.Fatalf("auto-creating %s on node %d: %+v", topic, n.ID, resp.Topics)
		}
	}
}

// A broker opens only the partitions it keeps a replica of; a produce to
// another is answered NOT_LEADER_OR_FOLLOWER, and a client routed by
// Metadata reaches every partition.
func TestClusterOpensOnlyItsReplicas(t *testing.T) {
	c := clustertest.Start(t, 3, nil)
	c.WaitForBrokers(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const topic = "spread"
	if resp, err := c.Admin(t).CreateTopic(ctx, 3, 1, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("CreateTopic: %v / %v", err, resp.Err)
	}
	var mt *metadata.Topic
	clustertest.WaitFor(t, 30*time.Second, "the topic on every node", func() bool {
		for _, n := range c.Nodes {
			t, ok := n.MetadataImage().Topic(topic)
			if !ok {
				return false
			}
			mt = t
		}
		return true
	})
	clustertest.WaitFor(t, 30*time.Second, "each replica's directory", func() bool {
		for _, p := range mt.Partitions {
			for _, id := range p.Replicas {
				if _, err := os.Stat(filepath.Join(c.Node(id).Dir, fmt.Sprintf("%s-%d", topic, p.Partition))); err != nil {
					return false
				}
			}
		}
		return true
	})
	for _, p := range mt.Partitions {
		for _, n := range c.Nodes {
			if slices.Contains(p.Replicas, n.ID) {
				continue
			}
			if _, err := os.Stat(filepath.Join(n.Dir, fmt.Sprintf("%s-%d", topic, p.Partition))); err == nil {
				t.Errorf("partition %d (replicas %v) has a directory on node %d", p.Partition, p.Replicas, n.ID)
			}
		}
	}
	// A raw produce to a node without the replica.
	p0 := mt.Partitions[0]
	for _, n := range c.Nodes {
		if slices.Contains(p0.Replicas, n.ID) {
			continue
		}
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = 1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition = 0
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		// The node applies the image to its open partitions just after
		// publishing it; until then the topic is unknown to its produce
		// path (retriable for a client), so wait for the settled answer.
		var got int16
		clustertest.WaitFor(t, 30*time.Second, "the node to know the topic", func() bool {
			resp := seedRequest(t, n.Addr, req).(*kmsg.ProduceResponse)
			got = resp.Topics[0].Partitions[0].ErrorCode
			return got != kerr.UnknownTopicOrPartition.Code
		})
		if got != kerr.NotLeaderForPartition.Code {
			t.Errorf("produce to node %d without the replica: %v, want NOT_LEADER_OR_FOLLOWER", n.ID, kerr.ErrorForCode(got))
		}
		break
	}
	cl := c.Client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	for i := range 6 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}
