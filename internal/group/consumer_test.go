package group

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeConsumer is a KIP-848 client: it owns what the coordinator last
// assigned it, giving up revoked partitions at once.
type fakeConsumer struct {
	id       string
	instance *string
	epoch    int32
	owned    assignment
	topics   []string
	regex    *string
	assignor *string
}

func newFake(id string, topics ...string) *fakeConsumer {
	return &fakeConsumer{id: id, owned: assignment{}, topics: topics}
}

// heartbeat sends a full heartbeat (keepalive leaves owned partitions and
// subscription out) and applies the response.
func (h *harness) cgh(group string, fc *fakeConsumer, full bool) *kmsg.ConsumerGroupHeartbeatResponse {
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version = 1
	req.Group, req.MemberID, req.MemberEpoch, req.InstanceID = group, fc.id, fc.epoch, fc.instance
	req.RebalanceTimeoutMillis = -1
	if full || fc.epoch == 0 {
		req.RebalanceTimeoutMillis = 60000
		req.SubscribedTopicNames = fc.topics
		req.SubscribedTopicRegex = fc.regex
		req.ServerAssignor = fc.assignor
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		if fc.epoch != 0 {
			for _, t := range fc.owned.sortedTopics() {
				req.Topics = append(req.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: t, Partitions: fc.owned[t]})
			}
		}
	}
	resp := h.c.ConsumerGroupHeartbeat(h.now, Client{ID: "c", Host: "h"}, req)
	h.drain()
	if resp.ErrorCode != 0 {
		return resp
	}
	fc.epoch = resp.MemberEpoch
	if resp.Assignment != nil {
		next := assignment{}
		for _, t := range resp.Assignment.Topics {
			for _, p := range t.Partitions {
				next.add(t.TopicID, p)
			}
		}
		fc.owned = next
	}
	return resp
}

// checkExclusive fails if two consumers own one partition, or if the
// coordinator's owner map disagrees with its members.
func (h *harness) checkExclusive(group string, fcs []*fakeConsumer) {
	h.t.Helper()
	seen := make(map[TopicID]map[int32]string)
	for _, fc := range fcs {
		for t, ps := range fc.owned {
			if seen[t] == nil {
				seen[t] = make(map[int32]string)
			}
			for _, p := range ps {
				if o, ok := seen[t][p]; ok {
					h.t.Fatalf("partition %x/%d owned by %s and %s", t[:2], p, o, fc.id)
				}
				seen[t][p] = fc.id
			}
		}
	}
	g := h.c.groups[group]
	if g == nil {
		return
	}
	for _, m := range g.consumer.members {
		for _, a := range []assignment{m.assigned, m.pendingRevocation} {
			for t, ps := range a {
				for _, p := range ps {
					if o := g.consumer.ownerOf(t, p); o != m.id {
						h.t.Fatalf("member %s holds %d but the owner map says %q", m.id, p, o)
					}
				}
			}
		}
	}
}

func topicT(n int32) []TopicInfo {
	return []TopicInfo{{Name: "t", ID: TopicID{1}, Partitions: n}, {Name: "__consumer_offsets", ID: TopicID{9}, Partitions: 4, Internal: true}}
}

func TestConsumerGroupRevokeBeforeReassign(t *testing.T) {
	h := newHarness(t, testConfig())
	h.c.SetTopics(h.now, topicT(6))
	a, b := newFake("a", "t"), newFake("b", "t")
	r := h.cgh("g", a, true)
	if r.ErrorCode != 0 || a.epoch != 1 || a.owned.count() != 6 {
		t.Fatalf("first member: %+v owned %v", r, a.owned)
	}
	r = h.cgh("g", b, true)
	if r.ErrorCode != 0 || b.epoch != 2 || b.owned.count() != 0 {
		t.Fatalf("second member must wait for a's partitions: epoch %d owned %v", b.epoch, b.owned)
	}
	fcs := []*fakeConsumer{a, b}
	h.checkExclusive("g", fcs)
	if s := h.state("g"); s != "Reconciling" {
		t.Fatalf("state %s", s)
	}
	// a's keepalive tells it to revoke half, at its old epoch.
	h.cgh("g", a, false)
	if a.epoch != 1 || a.owned.count() != 3 {
		t.Fatalf("a after revocation: epoch %d owned %v", a.epoch, a.owned)
	}
	// b asks again: the partitions are not released yet.
	h.cgh("g", b, false)
	if b.owned.count() != 0 {
		t.Fatalf("b got partitions before a acknowledged their revocation: %v", b.owned)
	}
	h.checkExclusive("g", fcs)
	// a acknowledges (its owned partitions no longer include the revoked).
	h.cgh("g", a, true)
	if a.epoch != 2 {
		t.Fatalf("a epoch %d after acknowledging", a.epoch)
	}
	h.cgh("g", b, false)
	if b.owned.count() != 3 {
		t.Fatalf("b after the release: %v", b.owned)
	}
	h.checkExclusive("g", fcs)
	if s := h.state("g"); s != "Stable" {
		t.Fatalf("state %s", s)
	}

	// Describe shows both members, their assignments and the epochs.
	d := h.c.ConsumerGroupDescribe(&kmsg.ConsumerGroupDescribeRequest{Version: 1, Groups: []string{"g"}})
	dg := d.Groups[0]
	if dg.ErrorCode != 0 || dg.State != "Stable" || dg.Epoch != 2 || dg.AssignmentEpoch != 2 || dg.AssignorName != "uniform" || len(dg.Members) != 2 {
		t.Fatalf("describe: %+v", dg)
	}
	if tp := dg.Members[0].Assignment.TopicPartitions; len(tp) != 1 || tp[0].Topic != "t" || len(tp[0].Partitions) != 3 {
		t.Fatalf("describe assignment: %+v", dg.Members[0].Assignment)
	}
	lr := h.c.ListGroups(&kmsg.ListGroupsRequest{Version: 5, TypesFilter: []string{"Consumer"}})
	if len(lr.Groups) != 1 || lr.Groups[0].GroupType != "consumer" || lr.Groups[0].ProtocolType != "consumer" {
		t.Fatalf("list: %+v", lr.Groups)
	}

	// b leaves: a gets everything back.
	b.epoch = -1
	if r := h.cgh("g", b, false); r.ErrorCode != 0 || r.MemberEpoch != -1 {
		t.Fatalf("leave: %+v", r)
	}
	h.cgh("g", a, false)
	if a.owned.count() != 6 || a.epoch != 3 {
		t.Fatalf("a after b left: epoch %d owned %v", a.epoch, a.owned)
	}
}

func TestConsumerGroupErrors(t *testing.T) {
	h := newHarness(t, testConfig())
	h.c.SetTopics(h.now, topicT(2))
	a := newFake("a", "t")
	h.cgh("g", a, true)
	cases := []struct {
		name string
		mod  func(r *kmsg.ConsumerGroupHeartbeatRequest)
		want int16
	}{
		{"wrong epoch", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = 7 }, kerr.FencedMemberEpoch.Code},
		{"unknown member", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID = "zz" }, kerr.UnknownMemberID.Code},
		{"no member id", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID = "" }, kerr.InvalidRequest.Code},
		{"bad assignor", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.ServerAssignor = kmsg.StringPtr("sticky") }, kerr.UnsupportedAssignor.Code},
		{"bad regex", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.SubscribedTopicRegex = kmsg.StringPtr("(") }, kerr.InvalidRegularExpression.Code},
		{"join with owned partitions", func(r *kmsg.ConsumerGroupHeartbeatRequest) {
			r.MemberEpoch = 0
			r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{{TopicID: TopicID{1}, Partitions: []int32{0}}}
		}, kerr.InvalidRequest.Code},
		{"join without subscription", func(r *kmsg.ConsumerGroupHeartbeatRequest) {
			r.MemberEpoch, r.SubscribedTopicNames = 0, nil
		}, kerr.InvalidRequest.Code},
		{"heartbeat to no group", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.Group = "other" }, kerr.UnknownMemberID.Code},
	}
	for _, tc := range cases {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Version, req.Group, req.MemberID, req.MemberEpoch = 1, "g", "a", a.epoch
		req.RebalanceTimeoutMillis, req.SubscribedTopicNames, req.Topics = 60000, []string{"t"}, []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		tc.mod(req)
		if r := h.c.ConsumerGroupHeartbeat(h.now, Client{}, req); r.ErrorCode != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, kerr.ErrorForCode(r.ErrorCode), kerr.ErrorForCode(tc.want))
		}
	}
	// A classic member cannot join a consumer group, nor the reverse.
	_, jr := h.join("g", "", joinOpts{})
	if jr.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Errorf("classic join to a consumer group: %v", kerr.ErrorForCode(jr.ErrorCode))
	}
	stableGroup(h, "classic", 1, joinOpts{})
	if r := h.cgh("classic", newFake("x", "t"), true); r.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Errorf("consumer join to a classic group: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	// The previous epoch is accepted with owned partitions we gave.
	b := newFake("b", "t")
	h.cgh("g", b, true)
	prev := a.epoch
	h.cgh("g", a, true) // a revokes one partition
	h.cgh("g", a, true) // and acknowledges: epoch moves on
	if a.epoch == prev {
		t.Fatalf("a's epoch did not move: %d", a.epoch)
	}
	lost := *a
	lost.epoch = prev
	if r := h.cgh("g", &lost, true); r.ErrorCode != 0 || r.MemberEpoch != a.epoch {
		t.Fatalf("previous epoch after a lost response: %+v", r)
	}
}

func TestConsumerGroupSessionExpiry(t *testing.T) {
	cfg := testConfig()
	cfg.ConsumerSessionTimeoutMs = 10000
	h := newHarness(t, cfg)
	h.c.SetTopics(h.now, topicT(4))
	a, b := newFake("a", "t"), newFake("b", "t")
	fcs := []*fakeConsumer{a, b}
	for range 4 {
		for _, fc := range fcs {
			h.cgh("g", fc, true)
		}
	}
	if a.owned.count() != 2 || b.owned.count() != 2 {
		t.Fatalf("not balanced: %v %v", a.owned, b.owned)
	}
	// b vanishes; a goes on heartbeating and gets b's partitions once b's
	// session expires.
	for range 3 {
		h.advance(4000)
		h.cgh("g", a, true)
	}
	if a.owned.count() != 4 {
		t.Fatalf("a after b's session expired: %v", a.owned)
	}
	if r := h.cgh("g", b, true); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("expired member: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	// a vanishes too: the group (no offsets) goes away with no timers.
	h.advance(10000)
	if _, ok := h.c.groups["g"]; ok || h.c.timers.Len() != 0 {
		t.Fatalf("dead group left behind: %v timers %d", ok, h.c.timers.Len())
	}
}

func TestConsumerGroupStaticMember(t *testing.T) {
	h := newHarness(t, testConfig())
	h.c.SetTopics(h.now, topicT(4))
	a, b := newFake("a1", "t"), newFake("b", "t")
	a.instance = ptr("inst-a")
	fcs := []*fakeConsumer{a, b}
	for range 4 {
		for _, fc := range fcs {
			h.cgh("g", fc, true)
		}
	}
	mine := a.owned.clone()
	epoch := h.c.groups["g"].consumer.epoch
	// a restarts: leaves with -2, and a new process of the same instance
	// joins with a new member id.
	a.epoch = staticLeftEpoch
	if r := h.cgh("g", a, false); r.ErrorCode != 0 || r.MemberEpoch != staticLeftEpoch {
		t.Fatalf("static leave: %+v", r)
	}
	// Another process of the same instance while a is still in: refused.
	dup := newFake("a-dup", "t")
	dup.instance = ptr("inst-b-owner")
	a2 := newFake("a2", "t")
	a2.instance = ptr("inst-a")
	if r := h.cgh("g", a2, true); r.ErrorCode != 0 {
		t.Fatalf("static rejoin: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if !a2.owned.equal(mine) || h.c.groups["g"].consumer.epoch != epoch {
		t.Fatalf("static rejoin should get the same partitions without a new epoch: %v vs %v", a2.owned, mine)
	}
	a3 := newFake("a3", "t")
	a3.instance = ptr("inst-a")
	if r := h.cgh("g", a3, true); r.ErrorCode != kerr.UnreleasedInstanceID.Code {
		t.Fatalf("second process of an active instance: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if r := h.cgh("g", b, true); r.ErrorCode != 0 || b.owned.count() != 2 {
		t.Fatalf("b after a's restart: %+v %v", r, b.owned)
	}
}

func TestConsumerGroupRegexAndRange(t *testing.T) {
	h := newHarness(t, testConfig())
	h.c.SetTopics(h.now, []TopicInfo{
		{Name: "orders-eu", ID: TopicID{1}, Partitions: 3},
		{Name: "orders-us", ID: TopicID{2}, Partitions: 3},
		{Name: "payments", ID: TopicID{3}, Partitions: 3},
		{Name: "__consumer_offsets", ID: TopicID{4}, Partitions: 4, Internal: true},
	})
	a, b := newFake("a"), newFake("b")
	for _, fc := range []*fakeConsumer{a, b} {
		fc.regex = ptr("orders-.*")
		fc.assignor = ptr("range")
	}
	fcs := []*fakeConsumer{a, b}
	for range 4 {
		for _, fc := range fcs {
			h.cgh("g", fc, true)
			h.checkExclusive("g", fcs)
		}
	}
	// Range: per topic, a (sorted first) gets 2 of 3, b 1.
	want := assignment{TopicID{1}: {0, 1}, TopicID{2}: {0, 1}}
	if !a.owned.equal(want) || b.owned.count() != 2 {
		t.Fatalf("range over a regex: a %v b %v", a.owned, b.owned)
	}
	// A new matching topic is picked up: a new epoch and assignment.
	epoch := h.c.groups["g"].consumer.epoch
	h.c.SetTopics(h.now, []TopicInfo{
		{Name: "orders-eu", ID: TopicID{1}, Partitions: 3},
		{Name: "orders-us", ID: TopicID{2}, Partitions: 3},
		{Name: "orders-ap", ID: TopicID{5}, Partitions: 2},
		{Name: "payments", ID: TopicID{3}, Partitions: 3},
	})
	if h.c.groups["g"].consumer.epoch != epoch+1 {
		t.Fatal("a new topic matching the regex did not bump the group epoch")
	}
	for range 4 {
		for _, fc := range fcs {
			h.cgh("g", fc, true)
			h.checkExclusive("g", fcs)
		}
	}
	if a.owned.count()+b.owned.count() != 8 {
		t.Fatalf("after orders-ap: a %v b %v", a.owned, b.owned)
	}
}

func TestConsumerGroupOffsets(t *testing.T) {
	h := newHarness(t, testConfig())
	h.c.SetTopics(h.now, topicT(2))
	a, b := newFake("a", "t"), newFake("b", "t")
	h.cgh("g", a, true)
	commit := func(member string, epoch int32, p int32) int16 {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version, req.Group, req.MemberID, req.Generation = 9, "g", member, epoch
		req.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: p, Offset: 5, LeaderEpoch: -1}}}}
		return h.c.OffsetCommit(h.now, req).Topics[0].Partitions[0].ErrorCode
	}
	if code := commit("a", a.epoch, 0); code != 0 {
		t.Fatalf("commit: %v", kerr.ErrorForCode(code))
	}
	if code := commit("a", a.epoch+1, 0); code != kerr.StaleMemberEpoch.Code {
		t.Fatalf("commit with a future epoch: %v", kerr.ErrorForCode(code))
	}
	if code := commit("", -1, 0); code != kerr.UnknownMemberID.Code {
		t.Fatalf("simple commit to a group with members: %v", kerr.ErrorForCode(code))
	}
	old := a.epoch
	h.cgh("g", b, true) // epoch moves on; a keeps partition 0 in the target
	h.cgh("g", a, true)
	h.cgh("g", a, true)
	if a.epoch == old {
		t.Fatal("epoch did not move")
	}
	p := a.owned[TopicID{1}][0]
	if code := commit("a", old, p); code != 0 {
		t.Fatalf("commit at the previous epoch of a partition still owned: %v", kerr.ErrorForCode(code))
	}
	if code := commit("a", old, 1-p); code != kerr.StaleMemberEpoch.Code {
		t.Fatalf("commit at the previous epoch of a partition given away: %v", kerr.ErrorForCode(code))
	}
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Version = 9
	fetch.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "g", MemberID: kmsg.StringPtr("a"), MemberEpoch: a.epoch + 5}}
	if r := h.c.OffsetFetch(fetch); r.Groups[0].ErrorCode != kerr.StaleMemberEpoch.Code {
		t.Fatalf("fetch with a wrong epoch: %v", kerr.ErrorForCode(r.Groups[0].ErrorCode))
	}
	fetch.Groups[0].MemberEpoch = a.epoch
	if r := h.c.OffsetFetch(fetch); r.Groups[0].ErrorCode != 0 || len(r.Groups[0].Topics) != 1 {
		t.Fatalf("fetch: %+v", r.Groups[0])
	}
	// OffsetDelete of a subscribed topic is refused.
	od := h.c.OffsetDelete(&kmsg.OffsetDeleteRequest{Group: "g", Topics: []kmsg.OffsetDeleteRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}})
	if od.Topics[0].Partitions[0].ErrorCode != kerr.GroupSubscribedToTopic.Code {
		t.Fatalf("offset delete: %+v", od)
	}
}

func TestConsumerGroupRevocationTimeout(t *testing.T) {
	h := newHarness(t, testConfig())
	h.c.SetTopics(h.now, topicT(2))
	a, b := newFake("a", "t"), newFake("b", "t")
	h.cgh("g", a, true)
	h.cgh("g", b, true)
	h.cgh("g", a, false) // told to revoke; never acknowledges
	h.advance(30000)
	h.cgh("g", b, false)
	h.advance(30001)
	h.cgh("g", b, false)
	if b.owned.count() != 2 {
		t.Fatalf("b after a's rebalance timeout: %v", b.owned)
	}
	if r := h.cgh("g", a, true); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("a after being fenced: %v", kerr.ErrorForCode(r.ErrorCode))
	}
}

func TestUniformAssignor(t *testing.T) {
	topics := map[string]TopicInfo{
		"x": {Name: "x", ID: TopicID{1}, Partitions: 7},
		"y": {Name: "y", ID: TopicID{2}, Partitions: 3},
	}
	ms := []assignorMember{{id: "a", topics: []string{"x", "y"}}, {id: "b", topics: []string{"x", "y"}}, {id: "c", topics: []string{"x", "y"}}}
	out := assignUniform(ms, topics)
	total := 0
	for _, m := range ms {
		n := out[m.id].count()
		if n < 3 || n > 4 {
			t.Fatalf("homogeneous: %s has %d", m.id, n)
		}
		total += n
	}
	if total != 10 {
		t.Fatalf("assigned %d of 10", total)
	}
	// Sticky: with the previous target as input, nothing moves.
	for i := range ms {
		ms[i].prev = out[ms[i].id]
	}
	again := assignUniform(ms, topics)
	for _, m := range ms {
		if !again[m.id].equal(out[m.id]) {
			t.Fatalf("stable input moved partitions of %s: %v -> %v", m.id, out[m.id], again[m.id])
		}
	}
	// A member leaves: only its partitions move.
	ms2 := ms[:2]
	after := assignUniform(ms2, topics)
	for _, m := range ms2 {
		if !out[m.id].subsetOf(after[m.id]) {
			t.Fatalf("%s lost partitions when another left", m.id)
		}
	}
	// Heterogeneous: every partition goes to a subscriber.
	hs := []assignorMember{{id: "a", topics: []string{"x"}}, {id: "b", topics: []string{"x", "y"}}, {id: "c", topics: []string{"y"}}}
	out = assignUniform(hs, topics)
	if out["a"].count()+out["b"].count()+out["c"].count() != 10 || out["a"].has(TopicID{2}, 0) || len(out["c"][TopicID{1}]) != 0 {
		t.Fatalf("heterogeneous: %v", out)
	}
	if d := out["a"].count() - out["c"].count(); d > 2 || d < -2 {
		t.Fatalf("heterogeneous imbalance: %v", out)
	}
}

// A group of 1,000 KIP-848 members converges: every member stable, every
// partition owned once, within a few heartbeat rounds.
func TestConsumerGroupThousandMembersConverge(t *testing.T) {
	h := newHarness(t, testConfig())
	h.c.SetTopics(h.now, topicT(2000))
	fcs := make([]*fakeConsumer, 1000)
	for i := range fcs {
		fcs[i] = newFake(fmt.Sprintf("m%04d", i), "t")
		if r := h.cgh("g", fcs[i], true); r.ErrorCode != 0 {
			t.Fatalf("join %d: %v", i, kerr.ErrorForCode(r.ErrorCode))
		}
	}
	rounds := 0
	for ; rounds < 10 && h.state("g") != "Stable"; rounds++ {
		for _, fc := range fcs {
			h.cgh("g", fc, true)
		}
		h.checkExclusive("g", fcs)
	}
	if s := h.state("g"); s != "Stable" {
		t.Fatalf("not stable after %d rounds: %s", rounds, s)
	}
	for _, fc := range fcs {
		if fc.owned.count() != 2 {
			t.Fatalf("%s owns %d partitions, want 2", fc.id, fc.owned.count())
		}
	}
	t.Logf("1000 members stable after %d heartbeat rounds", rounds)
}

// A classic group of 1,000 members converges: one join round (two
// requests each, KIP-394) and one sync round, in bounded simulated time.
func TestClassicThousandMembersConverge(t *testing.T) {
	h := newHarness(t, testConfig())
	start := h.now
	ids, _ := stableGroup(h, "g", 1000, joinOpts{})
	if len(ids) != 1000 {
		t.Fatalf("%d members", len(ids))
	}
	// Members all joined at once: the join ended after the initial delay,
	// extended once for the members that arrived during it.
	if took := h.now - start; took > 2*int64(h.c.cfg.GroupInitialRebalanceDelayMs) {
		t.Fatalf("join took %d ms of simulated time", took)
	}
}
