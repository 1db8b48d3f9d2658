package group

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// harness drives a Coordinator with a fake clock, collecting its replies
// and records, as the Service does with a real one.
type harness struct {
	t       testing.TB
	c       *Coordinator
	now     int64
	tickets Ticket
	replies map[Ticket]kmsg.Response
	records []Record
	ids     int
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.OffsetsTopicPartitions = 4
	return cfg
}

func newHarness(t testing.TB, cfg Config) *harness {
	h := &harness{t: t, now: 1_000_000, replies: make(map[Ticket]kmsg.Response)}
	cfg.NewMemberID = func(clientID string) string {
		h.ids++
		return fmt.Sprintf("%s-%d", clientID, h.ids)
	}
	h.c = New(cfg)
	for p := range cfg.OffsetsTopicPartitions {
		h.c.BeginLoad(p)
		h.c.EndLoad(h.now, p)
	}
	h.drain()
	return h
}

func (h *harness) drain() {
	r := h.c.Ready()
	for _, rp := range r.Replies {
		if _, dup := h.replies[rp.Ticket]; dup {
			h.t.Fatalf("ticket %d answered twice", rp.Ticket)
		}
		h.replies[rp.Ticket] = rp.Response
	}
	h.records = append(h.records, r.Records...)
}

// advance moves the clock and ticks.
func (h *harness) advance(ms int64) {
	h.now += ms
	h.c.Tick(h.now)
	h.drain()
}

func (h *harness) ticket() Ticket {
	h.tickets++
	return h.tickets
}

// reply takes the parked answer to t, failing if there is none.
func (h *harness) reply(t Ticket) kmsg.Response {
	h.t.Helper()
	r, ok := h.replies[t]
	if !ok {
		h.t.Fatalf("ticket %d not answered", t)
	}
	delete(h.replies, t)
	return r
}

func (h *harness) answered(t Ticket) bool {
	_, ok := h.replies[t]
	return ok
}

type joinOpts struct {
	version   int16
	instance  *string
	session   int32
	rebalance int32
	protocols []string
	topics    []string // consumer protocol subscription, for every protocol
	clientID  string
	protoType string
}

func (h *harness) joinReq(group, member string, o joinOpts) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = o.version
	if req.Version == 0 {
		req.Version = 9
	}
	req.Group, req.MemberID, req.InstanceID = group, member, o.instance
	req.SessionTimeoutMillis = o.session
	if req.SessionTimeoutMillis == 0 {
		req.SessionTimeoutMillis = 10000
	}
	req.RebalanceTimeoutMillis = o.rebalance
	if req.RebalanceTimeoutMillis == 0 {
		req.RebalanceTimeoutMillis = 20000
	}
	req.ProtocolType = o.protoType
	if req.ProtocolType == "" {
		req.ProtocolType = "consumer"
	}
	protos := o.protocols
	if protos == nil {
		protos = []string{"range"}
	}
	md := kmsg.NewConsumerMemberMetadata()
	md.Topics = o.topics
	for _, p := range protos {
		rp := kmsg.NewJoinGroupRequestProtocol()
		rp.Name = p
		rp.Metadata = md.AppendTo(nil)
		req.Protocols = append(req.Protocols, rp)
	}
	return req
}

// join sends a JoinGroup and returns its ticket and immediate response
// (nil when parked).
func (h *harness) join(group, member string, o joinOpts) (Ticket, *kmsg.JoinGroupResponse) {
	t := h.ticket()
	cl := Client{ID: o.clientID, Host: "127.0.0.1"}
	if cl.ID == "" {
		cl.ID = "c"
	}
	resp := h.c.JoinGroup(h.now, t, cl, h.joinReq(group, member, o))
	h.drain()
	return t, resp
}

// joinNew does the two-step KIP-394 join and returns the parked ticket
// and the member id.
func (h *harness) joinNew(group string, o joinOpts) (Ticket, string) {
	h.t.Helper()
	_, resp := h.join(group, "", o)
	if resp == nil || resp.ErrorCode != 79 {
		h.t.Fatalf("first join: want MEMBER_ID_REQUIRED, got %+v", resp)
	}
	t, resp2 := h.join(group, resp.MemberID, o)
	if resp2 != nil {
		h.t.Fatalf("second join answered at once: %+v", resp2)
	}
	return t, resp.MemberID
}

func (h *harness) sync(group, member string, gen int32, assign map[string][]byte) (Ticket, *kmsg.SyncGroupResponse) {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version = 5
	req.Group, req.MemberID, req.Generation = group, member, gen
	for _, id := range sortedKeys(assign) {
		a := kmsg.NewSyncGroupRequestGroupAssignment()
		a.MemberID, a.MemberAssignment = id, assign[id]
		req.GroupAssignment = append(req.GroupAssignment, a)
	}
	t := h.ticket()
	resp := h.c.SyncGroup(h.now, t, req)
	h.drain()
	return t, resp
}

func (h *harness) heartbeat(group, member string, gen int32, instance *string) int16 {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Version = 4
	req.Group, req.MemberID, req.Generation, req.InstanceID = group, member, gen, instance
	resp := h.c.Heartbeat(h.now, req)
	h.drain()
	return resp.ErrorCode
}

func (h *harness) commit(version int16, group, member string, gen int32, topic string, partition int32, off int64) int16 {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = version
	req.Group, req.MemberID, req.Generation = group, member, gen
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset = partition, off
	rp.Metadata = kmsg.StringPtr("md")
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := h.c.OffsetCommit(h.now, req)
	h.drain()
	return resp.Topics[0].Partitions[0].ErrorCode
}

// fetch reads one committed offset with OffsetFetch v8.
func (h *harness) fetch(group, topic string, partition int32) (int64, int16) {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 8
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = group
	rt := kmsg.NewOffsetFetchRequestGroupTopic()
	rt.Topic, rt.Partitions = topic, []int32{partition}
	rg.Topics = append(rg.Topics, rt)
	req.Groups = append(req.Groups, rg)
	resp := h.c.OffsetFetch(req)
	g := resp.Groups[0]
	if g.ErrorCode != 0 {
		return -1, g.ErrorCode
	}
	p := g.Topics[0].Partitions[0]
	return p.Offset, p.ErrorCode
}

func (h *harness) state(group string) string {
	g := h.c.groups[group]
	if g == nil {
		return "Dead"
	}
	return g.stateName()
}

func ptr(s string) *string { return &s }
