package group

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestPartitionFor(t *testing.T) {
	// Expected values computed with Java's String.hashCode and Kafka's
	// Utils.abs(hash) % 50.
	cases := []struct {
		group string
		hash  int32
		p50   int32
	}{
		{"a", 97, 47},
		{"hello", 99162322, 22},
		{"polygenelubricants", -2147483648, 0}, // MinInt32: Kafka's abs gives 0
		{"my-group", -1906497762, 12},
		{"😀", 1772899, 49}, // a surrogate pair in UTF-16
		{"é", 233, 33},
		{"console-consumer-12345", 158455506, 6},
		{"Zzzzzz", -1601918496, 46},
		{"consumer_group_Ω", 1388656288, 38},
	}
	for _, tc := range cases {
		if got := javaStringHash(tc.group); got != tc.hash {
			t.Errorf("hash(%q) = %d, want %d", tc.group, got, tc.hash)
		}
		if got := PartitionFor(tc.group, 50); got != tc.p50 {
			t.Errorf("PartitionFor(%q, 50) = %d, want %d", tc.group, got, tc.p50)
		}
	}
}

// stableGroup brings n members into a stable group and returns their ids
// (the leader first) and the generation.
func stableGroup(h *harness, group string, n int, o joinOpts) ([]string, int32) {
	h.t.Helper()
	tickets := make([]Ticket, n)
	ids := make([]string, n)
	for i := range n {
		tickets[i], ids[i] = h.joinNew(group, o)
	}
	// The initial delay extends while members keep arriving.
	for i := 0; i < 10 && !h.answered(tickets[0]); i++ {
		h.advance(int64(h.c.cfg.GroupInitialRebalanceDelayMs))
	}
	var leader string
	var gen int32
	for _, t := range tickets {
		r := h.reply(t).(*kmsg.JoinGroupResponse)
		if r.ErrorCode != 0 {
			h.t.Fatalf("join: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		leader, gen = r.LeaderID, r.Generation
	}
	assign := make(map[string][]byte)
	for _, id := range ids {
		assign[id] = []byte("assignment-of-" + id)
	}
	var syncs []Ticket
	for _, id := range ids {
		if id == leader {
			continue
		}
		t, resp := h.sync(group, id, gen, nil)
		if resp != nil {
			h.t.Fatalf("follower sync answered before the leader's: %+v", resp)
		}
		syncs = append(syncs, t)
	}
	lt, _ := h.sync(group, leader, gen, assign)
	for _, t := range append(syncs, lt) {
		r := h.reply(t).(*kmsg.SyncGroupResponse)
		if r.ErrorCode != 0 {
			h.t.Fatalf("sync: %v", kerr.ErrorForCode(r.ErrorCode))
		}
	}
	if s := h.state(group); s != "Stable" {
		h.t.Fatalf("state %s, want Stable", s)
	}
	out := []string{leader}
	for _, id := range ids {
		if id != leader {
			out = append(out, id)
		}
	}
	return out, gen
}

func TestClassicSingleMember(t *testing.T) {
	h := newHarness(t, testConfig())
	_, resp := h.join("g", "", joinOpts{})
	if resp.ErrorCode != kerr.MemberIDRequired.Code || resp.MemberID == "" {
		t.Fatalf("want MEMBER_ID_REQUIRED with an id, got %+v", resp)
	}
	tk, _ := h.join("g", resp.MemberID, joinOpts{})
	if h.answered(tk) {
		t.Fatal("join answered before the initial rebalance delay")
	}
	h.advance(2999)
	if h.answered(tk) {
		t.Fatal("join answered before the initial rebalance delay")
	}
	h.advance(1)
	jr := h.reply(tk).(*kmsg.JoinGroupResponse)
	if jr.ErrorCode != 0 || jr.Generation != 1 || jr.LeaderID != resp.MemberID || len(jr.Members) != 1 || *jr.Protocol != "range" {
		t.Fatalf("join response %+v", jr)
	}
	st, _ := h.sync("g", resp.MemberID, 1, map[string][]byte{resp.MemberID: []byte("x")})
	sr := h.reply(st).(*kmsg.SyncGroupResponse)
	if sr.ErrorCode != 0 || string(sr.MemberAssignment) != "x" {
		t.Fatalf("sync response %+v", sr)
	}
	if code := h.heartbeat("g", resp.MemberID, 1, nil); code != 0 {
		t.Fatalf("heartbeat: %v", kerr.ErrorForCode(code))
	}
	// The stable group was persisted.
	if len(h.records) != 1 {
		t.Fatalf("records: %d, want the group metadata", len(h.records))
	}
}

func TestClassicErrors(t *testing.T) {
	h := newHarness(t, testConfig())
	ids, gen := stableGroup(h, "g", 2, joinOpts{})
	cases := []struct {
		name   string
		member string
		gen    int32
		want   int16
	}{
		{"ok", ids[1], gen, 0},
		{"unknown member", "nobody", gen, kerr.UnknownMemberID.Code},
		{"old generation", ids[1], gen - 1, kerr.IllegalGeneration.Code},
	}
	for _, tc := range cases {
		if got := h.heartbeat("g", tc.member, tc.gen, nil); got != tc.want {
			t.Errorf("%s: heartbeat %v, want %v", tc.name, kerr.ErrorForCode(got), kerr.ErrorForCode(tc.want))
		}
	}
	if got := h.heartbeat("nogroup", "x", 1, nil); got != kerr.UnknownMemberID.Code {
		t.Errorf("heartbeat to no group: %v", kerr.ErrorForCode(got))
	}
	_, r := h.join("g", "", joinOpts{session: 10})
	if r.ErrorCode != kerr.InvalidSessionTimeout.Code {
		t.Errorf("tiny session timeout: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	_, r = h.join("g", "", joinOpts{protocols: []string{"roundrobin"}})
	if r.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Errorf("incompatible protocol: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	_, r = h.join("g", "", joinOpts{protoType: "connect"})
	if r.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Errorf("other protocol type: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	_, r = h.join("", "", joinOpts{})
	if r.ErrorCode != kerr.InvalidGroupID.Code {
		t.Errorf("empty group: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	_, r = h.join("g", "ghost", joinOpts{})
	if r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Errorf("unknown member join: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	_, sr := h.sync("g", ids[0], gen+1, nil)
	if sr.ErrorCode != kerr.IllegalGeneration.Code {
		t.Errorf("sync wrong generation: %v", kerr.ErrorForCode(sr.ErrorCode))
	}
}

func TestClassicRebalanceOnJoin(t *testing.T) {
	h := newHarness(t, testConfig())
	ids, gen := stableGroup(h, "g", 1, joinOpts{protocols: []string{"cooperative-sticky", "range"}})
	// A second member offering only range joins: the group must rebalance
	// and settle on range, the one protocol both offer.
	t2, id2 := h.joinNew("g", joinOpts{protocols: []string{"range"}})
	if s := h.state("g"); s != "PreparingRebalance" {
		t.Fatalf("state %s", s)
	}
	if code := h.heartbeat("g", ids[0], gen, nil); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("heartbeat during rebalance: %v", kerr.ErrorForCode(code))
	}
	// Commits of the old generation are still allowed while preparing
	// (eager clients commit in their revoke callback).
	if code := h.commit(8, "g", ids[0], gen, "t", 0, 10); code != 0 {
		t.Fatalf("commit while preparing: %v", kerr.ErrorForCode(code))
	}
	if h.answered(t2) {
		t.Fatal("join completed without the old member")
	}
	t1, r := h.join("g", ids[0], joinOpts{protocols: []string{"cooperative-sticky", "range"}})
	if r != nil {
		t.Fatalf("rejoin answered at once: %+v", r)
	}
	j1, j2 := h.reply(t1).(*kmsg.JoinGroupResponse), h.reply(t2).(*kmsg.JoinGroupResponse)
	if j1.Generation != gen+1 || j2.Generation != gen+1 || *j1.Protocol != "range" {
		t.Fatalf("join responses %+v %+v", j1, j2)
	}
	if j1.LeaderID != ids[0] || len(j1.Members) != 2 || len(j2.Members) != 0 {
		t.Fatalf("the old leader should stay leader and alone get the members: %+v %+v", j1, j2)
	}
	// Heartbeat while completing is fine; commit is not.
	if code := h.heartbeat("g", id2, gen+1, nil); code != 0 {
		t.Fatalf("heartbeat while completing: %v", kerr.ErrorForCode(code))
	}
	if code := h.commit(8, "g", id2, gen+1, "t", 0, 10); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("commit while completing: %v", kerr.ErrorForCode(code))
	}
	s2, _ := h.sync("g", id2, gen+1, nil)
	s1, _ := h.sync("g", ids[0], gen+1, map[string][]byte{ids[0]: []byte("a")})
	if r := h.reply(s2).(*kmsg.SyncGroupResponse); r.ErrorCode != 0 || len(r.MemberAssignment) == 0 {
		// The leader left id2 out: it gets an empty consumer assignment.
		t.Fatalf("follower sync %+v", r)
	}
	if r := h.reply(s1).(*kmsg.SyncGroupResponse); string(r.MemberAssignment) != "a" {
		t.Fatalf("leader sync %+v", r)
	}
}

func TestClassicSessionAndRebalanceTimeouts(t *testing.T) {
	h := newHarness(t, testConfig())
	ids, gen := stableGroup(h, "g", 2, joinOpts{session: 10000, rebalance: 20000})
	// ids[1] stops heartbeating; ids[0] goes on.
	for range 2 {
		h.advance(4000)
		if code := h.heartbeat("g", ids[0], gen, nil); code != 0 {
			t.Fatalf("heartbeat: %v", kerr.ErrorForCode(code))
		}
	}
	h.advance(4000)
	if _, ok := h.c.groups["g"].classic.members[ids[1]]; ok {
		t.Fatal("silent member not expelled after its session timeout")
	}
	if code := h.heartbeat("g", ids[0], gen, nil); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("want a rebalance after the expiry, got %v", kerr.ErrorForCode(code))
	}
	tk, _ := h.join("g", ids[0], joinOpts{session: 10000, rebalance: 20000})
	jr := h.reply(tk).(*kmsg.JoinGroupResponse)
	if jr.Generation != gen+1 || len(jr.Members) != 1 {
		t.Fatalf("join %+v", jr)
	}

	// Rebalance timeout: a member that does not rejoin is removed when
	// the rebalance times out, and the others go on.
	h2 := newHarness(t, testConfig())
	ids, gen = stableGroup(h2, "g", 2, joinOpts{session: 30000, rebalance: 5000})
	t3, _ := h2.joinNew("g", joinOpts{session: 30000, rebalance: 5000})
	t1, _ := h2.join("g", ids[0], joinOpts{session: 30000, rebalance: 5000})
	h2.advance(4999)
	if h2.answered(t1) {
		t.Fatal("join completed before the rebalance timeout")
	}
	h2.advance(1)
	j := h2.reply(t1).(*kmsg.JoinGroupResponse)
	h2.reply(t3)
	if j.Generation != gen+1 || len(j.Members) != 2 {
		t.Fatalf("after the rebalance timeout: %+v", j)
	}
	if code := h2.heartbeat("g", ids[1], gen, nil); code != kerr.UnknownMemberID.Code {
		t.Fatalf("member that missed the rebalance: %v", kerr.ErrorForCode(code))
	}
}

func TestClassicSyncTimeout(t *testing.T) {
	h := newHarness(t, testConfig())
	ids, gen := stableGroup(h, "g", 2, joinOpts{session: 30000, rebalance: 5000})
	t1, _ := h.join("g", ids[0], joinOpts{session: 30000, rebalance: 5000})
	t2, _ := h.join("g", ids[1], joinOpts{session: 30000, rebalance: 5000})
	h.reply(t1)
	h.reply(t2)
	// Only the follower syncs; the leader vanishes.
	s2, _ := h.sync("g", ids[1], gen+1, nil)
	h.advance(5000)
	if r := h.reply(s2).(*kmsg.SyncGroupResponse); r.ErrorCode != kerr.RebalanceInProgress.Code {
		t.Fatalf("parked sync after the leader's sync timeout: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if _, ok := h.c.groups["g"].classic.members[ids[0]]; ok {
		t.Fatal("leader that never synced is still a member")
	}
}

func TestClassicStaticMembership(t *testing.T) {
	h := newHarness(t, testConfig())
	o := joinOpts{instance: ptr("instance-a")}
	tk, r := h.join("g", "", o)
	if r != nil {
		t.Fatalf("a static member needs no MEMBER_ID_REQUIRED round: %+v", r)
	}
	h.advance(3000)
	jr := h.reply(tk).(*kmsg.JoinGroupResponse)
	old, gen := jr.MemberID, jr.Generation
	st, _ := h.sync("g", old, gen, map[string][]byte{old: []byte("mine")})
	h.reply(st)
	tb, _ := h.joinNew("g", joinOpts{})
	tk, _ = h.join("g", old, o)
	h.reply(tb)
	jr = h.reply(tk).(*kmsg.JoinGroupResponse)
	gen = jr.Generation
	var other string
	for _, m := range jr.Members {
		if m.MemberID != old {
			other = m.MemberID
		}
	}
	so, _ := h.sync("g", other, gen, nil)
	sl, _ := h.sync("g", old, gen, map[string][]byte{old: []byte("mine"), other: []byte("yours")})
	h.reply(so)
	h.reply(sl)

	// The static member restarts: same instance id, no member id. It gets
	// a new id at once, without a rebalance, and the old id is fenced.
	_, r = h.join("g", "", joinOpts{instance: ptr("instance-a"), version: 9})
	if r == nil || r.ErrorCode != 0 || r.Generation != gen || r.MemberID == old {
		t.Fatalf("static rejoin: %+v", r)
	}
	if !r.SkipAssignment || len(r.Members) != 2 {
		t.Fatalf("the static leader must be told to skip the assignment (KIP-814): %+v", r)
	}
	if s := h.state("g"); s != "Stable" {
		t.Fatalf("state %s after a static rejoin", s)
	}
	if code := h.heartbeat("g", old, gen, ptr("instance-a")); code != kerr.FencedInstanceID.Code {
		t.Fatalf("old static id: %v", kerr.ErrorForCode(code))
	}
	if code := h.heartbeat("g", r.MemberID, gen, ptr("instance-a")); code != 0 {
		t.Fatalf("new static id: %v", kerr.ErrorForCode(code))
	}
	_, sr := h.sync("g", r.MemberID, gen, nil)
	if string(sr.MemberAssignment) != "mine" {
		t.Fatalf("static member lost its assignment: %q", sr.MemberAssignment)
	}

	// LeaveGroup by instance id with a wrong member id is fenced; with the
	// right one it leaves.
	lr := h.c.LeaveGroup(h.now, &kmsg.LeaveGroupRequest{Version: 5, Group: "g", Members: []kmsg.LeaveGroupRequestMember{
		{MemberID: old, InstanceID: ptr("instance-a")},
		{MemberID: "nobody"},
	}})
	if lr.Members[0].ErrorCode != kerr.FencedInstanceID.Code || lr.Members[1].ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("leave: %+v", lr)
	}
	lr = h.c.LeaveGroup(h.now, &kmsg.LeaveGroupRequest{Version: 5, Group: "g", Members: []kmsg.LeaveGroupRequestMember{
		{InstanceID: ptr("instance-a")},
		{MemberID: other},
	}})
	if lr.ErrorCode != 0 || lr.Members[0].ErrorCode != 0 || lr.Members[1].ErrorCode != 0 {
		t.Fatalf("leave: %+v", lr)
	}
	h.drain()
	if s := h.state("g"); s != "Dead" {
		t.Fatalf("every member left and no offsets: the group must be gone, is %s", s)
	}
	if n := h.c.timers.Len(); n != 0 {
		t.Fatalf("%d timers left behind by a dead group", n)
	}
}

func TestClassicLeaveV0(t *testing.T) {
	h := newHarness(t, testConfig())
	ids, _ := stableGroup(h, "g", 2, joinOpts{})
	lr := h.c.LeaveGroup(h.now, &kmsg.LeaveGroupRequest{Version: 1, Group: "g", MemberID: ids[1]})
	if lr.ErrorCode != 0 || lr.Members != nil {
		t.Fatalf("leave v1: %+v", lr)
	}
	lr = h.c.LeaveGroup(h.now, &kmsg.LeaveGroupRequest{Version: 1, Group: "g", MemberID: ids[1]})
	if lr.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("second leave v1: %+v", lr)
	}
	if s := h.state("g"); s != "PreparingRebalance" {
		t.Fatalf("state %s", s)
	}
}

func TestClassicJoinV3NoMemberIDRequired(t *testing.T) {
	h := newHarness(t, testConfig())
	tk, r := h.join("g", "", joinOpts{version: 3})
	if r != nil {
		t.Fatalf("v3 join: %+v", r)
	}
	h.advance(3000)
	if jr := h.reply(tk).(*kmsg.JoinGroupResponse); jr.ErrorCode != 0 || jr.Generation != 1 {
		t.Fatalf("v3 join: %+v", jr)
	}
}

func TestClassicGroupMaxSize(t *testing.T) {
	cfg := testConfig()
	cfg.GroupMaxSize = 2
	h := newHarness(t, cfg)
	h.joinNew("g", joinOpts{})
	h.joinNew("g", joinOpts{})
	_, r := h.join("g", "", joinOpts{})
	if r.ErrorCode != kerr.GroupMaxSizeReached.Code {
		t.Fatalf("third member: %v", kerr.ErrorForCode(r.ErrorCode))
	}
}

func TestClassicNotCoordinator(t *testing.T) {
	cfg := testConfig()
	c := New(cfg)
	req := kmsg.NewPtrJoinGroupRequest()
	req.Group, req.SessionTimeoutMillis, req.ProtocolType = "g", 10000, "consumer"
	req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range"}}
	if r := c.JoinGroup(0, 1, Client{}, req); r.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("before load: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	p := PartitionFor("g", cfg.OffsetsTopicPartitions)
	c.BeginLoad(p)
	if r := c.JoinGroup(0, 1, Client{}, req); r.ErrorCode != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("while loading: %v", kerr.ErrorForCode(r.ErrorCode))
	}
}
