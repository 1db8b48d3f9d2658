package broker

// Leader hints (KIP-951). When a Produce (v10+) or Fetch (CurrentLeader
// v12+, endpoints v16+) partition is answered NOT_LEADER_OR_FOLLOWER, or a
// Fetch partition FENCED_LEADER_EPOCH, the answer also names the
// partition's current leader and epoch, and the response carries that
// leader's endpoint, so the client moves the partition at once instead of
// waiting for a Metadata round trip.
//
// The hint comes from the metadata image, the newest knowledge this node
// has: on a follower the image's leader, on a node that just lost the
// leadership the broker that took it, on a single node this node itself.
// A leader the image does not know (-1) is sent as (-1, -1) with no
// endpoint, and a leader that is fenced or has no endpoint is named
// without one (Kafka does the same): the client then falls back to
// Metadata. The endpoint is the first advertised listener, the one
// Metadata hands out: Gregor serves one listener, so it is also the one
// the request came in on.
//
// Clients act on a hint only when its epoch is newer than the one they
// know (franz-go, the Java client), so a stale image can at worst cost the
// Metadata round trip the client would have made anyway.

import (
	"github.com/gregor-log/gregor/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// leaderHint is a partition's leader and leader epoch as a response
// reports it; (-1, -1) when unknown.
type leaderHint struct {
	leaderID    int32
	leaderEpoch int32
}

var unknownLeader = leaderHint{leaderID: -1, leaderEpoch: -1}

// hintEndpoint is one broker of a response's NodeEndpoints.
type hintEndpoint struct {
	nodeID int32
	host   string
	port   int32
	rack   *string
}

// leaderHints builds the hints of one response from one image, and
// collects the endpoints of the leaders it named. The endpoints are at
// most one per broker of the image, whatever the request holds.
type leaderHints struct {
	img       *metadata.Image
	endpoints []hintEndpoint
}

func newLeaderHints(img *metadata.Image) *leaderHints { return &leaderHints{img: img} }

// byName and byID return the hint for one partition of a topic named by
// name (Produce, Fetch before v13) or id (Fetch v13+).
func (h *leaderHints) byName(topic string, index int32) leaderHint {
	t, ok := h.img.Topic(topic)
	return h.forPartition(t, ok, index)
}

func (h *leaderHints) byID(id [16]byte, index int32) leaderHint {
	t, ok := h.img.TopicByID(id)
	return h.forPartition(t, ok, index)
}

func (h *leaderHints) forPartition(t *metadata.Topic, ok bool, index int32) leaderHint {
	if !ok || index < 0 || int(index) >= len(t.Partitions) {
		return unknownLeader
	}
	p := t.Partitions[index]
	if p.Leader < 0 {
		return unknownLeader
	}
	h.addEndpoint(p.Leader)
	return leaderHint{leaderID: p.Leader, leaderEpoch: p.LeaderEpoch}
}

// addEndpoint adds node's client endpoint once, if the image has one for
// a broker that may serve (not fenced).
func (h *leaderHints) addEndpoint(node int32) {
	for _, e := range h.endpoints {
		if e.nodeID == node {
			return
		}
	}
	br, ok := h.img.Broker(node)
	if !ok || br.Fenced || len(br.Endpoints) == 0 {
		return
	}
	e := br.Endpoints[0] // the listener Metadata advertises
	he := hintEndpoint{nodeID: node, host: e.Host, port: e.Port}
	if br.Rack != "" {
		rack := br.Rack
		he.rack = &rack
	}
	h.endpoints = append(h.endpoints, he)
}

// addProduceLeaderHints fills CurrentLeader of every partition answered
// NOT_LEADER_OR_FOLLOWER and the response's NodeEndpoints (Brokers), for
// Produce v10+. The image is read only when some partition needs it.
func addProduceLeaderHints(resp *kmsg.ProduceResponse, img func() *metadata.Image) {
	if resp.Version < 10 {
		return
	}
	var h *leaderHints
	for i := range resp.Topics {
		t := &resp.Topics[i]
		for j := range t.Partitions {
			p := &t.Partitions[j]
			if p.ErrorCode != kerr.NotLeaderForPartition.Code {
				continue
			}
			if h == nil {
				h = newLeaderHints(img())
			}
			hint := h.byName(t.Topic, p.Partition)
			p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch = hint.leaderID, hint.leaderEpoch
		}
	}
	if h == nil {
		return
	}
	for _, e := range h.endpoints {
		b := kmsg.NewProduceResponseBroker()
		b.NodeID, b.Host, b.Port, b.Rack = e.nodeID, e.host, e.port, e.rack
		resp.Brokers = append(resp.Brokers, b)
	}
}

// addFetchLeaderHints sets the leader hint of every partition answered
// NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH (v12+: the CurrentLeader
// tag exists from there) and the response's NodeEndpoints (v16+).
func addFetchLeaderHints(resp *fetchResponse, img func() *metadata.Image) {
	if resp.version < 12 {
		return
	}
	var h *leaderHints
	for i := range resp.results {
		res := &resp.results[i]
		if res.errorCode != kerr.NotLeaderForPartition.Code && res.errorCode != kerr.FencedLeaderEpoch.Code {
			continue
		}
		if h == nil {
			h = newLeaderHints(img())
		}
		var hint leaderHint
		if resp.version >= 13 {
			hint = h.byID(res.topicID, res.partition)
		} else {
			hint = h.byName(res.topic, res.partition)
		}
		// (-1, -1) is the tag's default: an unknown leader is sent as no
		// tag at all, which clients read the same way.
		res.currentLeader, res.hasCurrentLeader = hint, hint != unknownLeader
	}
	if h != nil && resp.version >= 16 {
		resp.nodeEndpoints = h.endpoints
	}
}
