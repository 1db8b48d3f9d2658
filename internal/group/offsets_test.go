package group

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestOffsetCommitRules(t *testing.T) {
	h := newHarness(t, testConfig())
	h.c.SetTopics(h.now, []TopicInfo{{Name: "t", ID: TopicID{1}, Partitions: 3}})
	ids, gen := stableGroup(h, "g", 2, joinOpts{topics: []string{"t"}})
	cases := []struct {
		name      string
		version   int16
		group     string
		member    string
		gen       int32
		topic     string
		partition int32
		want      int16
	}{
		{"member of the generation", 8, "g", ids[1], gen, "t", 0, 0},
		{"old generation", 8, "g", ids[1], gen - 1, "t", 0, kerr.IllegalGeneration.Code},
		{"unknown member", 8, "g", "nobody", gen, "t", 0, kerr.UnknownMemberID.Code},
		{"simple commit to a group with members", 8, "g", "", -1, "t", 0, kerr.UnknownMemberID.Code},
		{"unknown topic", 8, "g", ids[0], gen, "nope", 0, kerr.UnknownTopicOrPartition.Code},
		{"partition out of range", 8, "g", ids[0], gen, "t", 3, kerr.UnknownTopicOrPartition.Code},
		{"simple commit to a new group", 8, "simple", "", -1, "t", 1, 0},
		{"generation to a missing group, old version", 8, "missing", "m", 3, "t", 0, kerr.IllegalGeneration.Code},
		{"generation to a missing group, v9", 9, "missing", "m", 3, "t", 0, kerr.GroupIDNotFound.Code},
		{"v2 commit", 2, "simple", "", -1, "t", 2, 0},
	}
	for _, tc := range cases {
		if got := h.commit(tc.version, tc.group, tc.member, tc.gen, tc.topic, tc.partition, 42); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, kerr.ErrorForCode(got), kerr.ErrorForCode(tc.want))
		}
	}
	if _, ok := h.c.groups["missing"]; ok {
		t.Error("a rejected commit created a group")
	}
	if off, code := h.fetch("g", "t", 0); off != 42 || code != 0 {
		t.Errorf("fetch g/t/0: %d %v", off, kerr.ErrorForCode(code))
	}
	if off, _ := h.fetch("g", "t", 1); off != -1 {
		t.Errorf("fetch of nothing committed: %d, want -1", off)
	}
	if off, _ := h.fetch("nogroup", "t", 1); off != -1 {
		t.Errorf("fetch of no group: %d, want -1", off)
	}

	// Metadata larger than offset.metadata.max.bytes.
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version, req.Group = 8, "simple"
	req.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{
		{Partition: 0, Offset: 1, LeaderEpoch: -1, Metadata: kmsg.StringPtr(string(make([]byte, 4097)))},
	}}}
	if r := h.c.OffsetCommit(h.now, req); r.Topics[0].Partitions[0].ErrorCode != kerr.OffsetMetadataTooLarge.Code {
		t.Errorf("large metadata: %v", kerr.ErrorForCode(r.Topics[0].Partitions[0].ErrorCode))
	}
}

func TestOffsetFetchVersions(t *testing.T) {
	h := newHarness(t, testConfig())
	for p := int32(0); p < 3; p++ {
		h.commit(8, "a", "", -1, "t", p, int64(10+p))
	}
	h.commit(8, "a", "", -1, "u", 0, 7)
	h.commit(8, "b", "", -1, "t", 0, 99)

	// v8: several groups at once; null topics means all.
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 8
	req.RequireStable = true
	req.Groups = []kmsg.OffsetFetchRequestGroup{
		{Group: "a", MemberEpoch: -1},
		{Group: "b", MemberEpoch: -1, Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{0, 5}}}},
		{Group: "none", MemberEpoch: -1},
	}
	resp := h.c.OffsetFetch(req)
	if len(resp.Groups) != 3 {
		t.Fatalf("groups: %+v", resp.Groups)
	}
	a := resp.Groups[0]
	if len(a.Topics) != 2 || a.Topics[0].Topic != "t" || len(a.Topics[0].Partitions) != 3 || a.Topics[0].Partitions[2].Offset != 12 || a.Topics[1].Partitions[0].Offset != 7 {
		t.Fatalf("all offsets of a: %+v", a)
	}
	b := resp.Groups[1]
	if b.Topics[0].Partitions[0].Offset != 99 || b.Topics[0].Partitions[1].Offset != -1 {
		t.Fatalf("b: %+v", b)
	}
	if len(resp.Groups[2].Topics) != 0 || resp.Groups[2].ErrorCode != 0 {
		t.Fatalf("unknown group: %+v", resp.Groups[2])
	}

	// v1: single group, explicit topics only.
	old := kmsg.NewPtrOffsetFetchRequest()
	old.Version, old.Group = 1, "a"
	old.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{1}}}
	if r := h.c.OffsetFetch(old); r.Topics[0].Partitions[0].Offset != 11 {
		t.Fatalf("v1 fetch: %+v", r)
	}
	// v7: null topics means all.
	old.Version, old.Topics = 7, nil
	if r := h.c.OffsetFetch(old); len(r.Topics) != 2 {
		t.Fatalf("v7 fetch all: %+v", r)
	}
}

func TestOffsetDelete(t *testing.T) {
	h := newHarness(t, testConfig())
	ids, gen := stableGroup(h, "g", 1, joinOpts{topics: []string{"in-use"}})
	h.commit(8, "g", ids[0], gen, "in-use", 0, 1)
	h.commit(8, "g", ids[0], gen, "old", 0, 1)
	req := kmsg.NewPtrOffsetDeleteRequest()
	req.Group = "g"
	req.Topics = []kmsg.OffsetDeleteRequestTopic{
		{Topic: "in-use", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}},
		{Topic: "old", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}},
	}
	h.records = nil
	resp := h.c.OffsetDelete(req)
	h.drain()
	if resp.ErrorCode != 0 || resp.Topics[0].Partitions[0].ErrorCode != kerr.GroupSubscribedToTopic.Code || resp.Topics[1].Partitions[0].ErrorCode != 0 {
		t.Fatalf("offset delete: %+v", resp)
	}
	if off, _ := h.fetch("g", "old", 0); off != -1 {
		t.Fatalf("deleted offset still there: %d", off)
	}
	if len(h.records) != 1 || h.records[0].Value != nil {
		t.Fatalf("want one tombstone, got %+v", h.records)
	}
	req.Group = "missing"
	if r := h.c.OffsetDelete(req); r.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("missing group: %v", kerr.ErrorForCode(r.ErrorCode))
	}
}

func TestAdminListDescribeDelete(t *testing.T) {
	h := newHarness(t, testConfig())
	stableGroup(h, "busy", 2, joinOpts{})
	h.commit(8, "idle", "", -1, "t", 0, 5)

	lr := h.c.ListGroups(&kmsg.ListGroupsRequest{Version: 5})
	if len(lr.Groups) != 2 || lr.Groups[0].Group != "busy" || lr.Groups[0].GroupState != "Stable" || lr.Groups[1].GroupState != "Empty" || lr.Groups[0].GroupType != "classic" {
		t.Fatalf("list: %+v", lr.Groups)
	}
	lr = h.c.ListGroups(&kmsg.ListGroupsRequest{Version: 5, StatesFilter: []string{"empty"}})
	if len(lr.Groups) != 1 || lr.Groups[0].Group != "idle" {
		t.Fatalf("list empty: %+v", lr.Groups)
	}
	lr = h.c.ListGroups(&kmsg.ListGroupsRequest{Version: 5, TypesFilter: []string{"consumer"}})
	if len(lr.Groups) != 0 {
		t.Fatalf("list consumer type: %+v", lr.Groups)
	}

	dr := h.c.DescribeGroups(&kmsg.DescribeGroupsRequest{Version: 5, Groups: []string{"busy", "none"}})
	busy := dr.Groups[0]
	if busy.State != "Stable" || busy.Protocol != "range" || len(busy.Members) != 2 || len(busy.Members[0].MemberAssignment) == 0 {
		t.Fatalf("describe busy: %+v", busy)
	}
	if dr.Groups[1].State != "Dead" || dr.Groups[1].ErrorCode != 0 {
		t.Fatalf("describe none v5: %+v", dr.Groups[1])
	}
	dr = h.c.DescribeGroups(&kmsg.DescribeGroupsRequest{Version: 6, Groups: []string{"none"}})
	if dr.Groups[0].ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("describe none v6: %+v", dr.Groups[0])
	}

	h.records = nil
	del := h.c.DeleteGroups(&kmsg.DeleteGroupsRequest{Version: 2, Groups: []string{"busy", "idle", "none"}})
	h.drain()
	codes := []int16{del.Groups[0].ErrorCode, del.Groups[1].ErrorCode, del.Groups[2].ErrorCode}
	if codes[0] != kerr.NonEmptyGroup.Code || codes[1] != 0 || codes[2] != kerr.GroupIDNotFound.Code {
		t.Fatalf("delete codes %v", codes)
	}
	if len(h.records) != 1 || h.records[0].Value != nil {
		t.Fatalf("delete of idle: want its offset tombstone, got %+v", h.records)
	}
	if _, ok := h.c.groups["idle"]; ok {
		t.Fatal("deleted group still there")
	}
}

func TestOffsetExpiry(t *testing.T) {
	cfg := testConfig()
	cfg.OffsetsRetentionMs = 60000
	cfg.OffsetsRetentionCheckIntervalMs = 1000
	h := newHarness(t, cfg)
	h.advance(0) // arms the retention check
	ids, gen := stableGroup(h, "g", 1, joinOpts{session: 100000, topics: []string{"t"}})
	h.commit(8, "g", ids[0], gen, "t", 0, 5)
	h.commit(8, "simple", "", -1, "t", 0, 5)
	// Members keep offsets alive however old they are.
	for range 70 {
		h.advance(1000)
		h.heartbeat("g", ids[0], gen, nil)
	}
	if off, _ := h.fetch("g", "t", 0); off != 5 {
		t.Fatalf("offset of a live group expired: %d", off)
	}
	if _, ok := h.c.groups["simple"]; ok {
		t.Fatal("offsets of a simple group outlived the retention")
	}
	h.c.LeaveGroup(h.now, &kmsg.LeaveGroupRequest{Version: 3, Group: "g", Members: []kmsg.LeaveGroupRequestMember{{MemberID: ids[0]}}})
	h.drain()
	h.advance(59000)
	if off, _ := h.fetch("g", "t", 0); off != 5 {
		t.Fatalf("offset expired before the retention after the group emptied: %d", off)
	}
	h.advance(2000)
	if _, ok := h.c.groups["g"]; ok {
		t.Fatal("empty group not dropped once its offsets expired")
	}
	last := h.records[len(h.records)-1]
	if k, _ := decodeKey(last.Key); k.kind != keyGroup || last.Value != nil {
		t.Fatalf("last record should be the group's tombstone: %+v", k)
	}
}

func TestTopicDeletionDropsOffsets(t *testing.T) {
	h := newHarness(t, testConfig())
	h.c.SetTopics(h.now, []TopicInfo{{Name: "t", ID: TopicID{1}, Partitions: 1}, {Name: "u", ID: TopicID{2}, Partitions: 1}})
	h.commit(8, "g", "", -1, "t", 0, 5)
	h.commit(8, "g", "", -1, "u", 0, 5)
	h.c.SetTopics(h.now, []TopicInfo{{Name: "u", ID: TopicID{2}, Partitions: 1}})
	h.drain()
	if off, _ := h.fetch("g", "t", 0); off != -1 {
		t.Fatal("offset of a deleted topic survived")
	}
	if off, _ := h.fetch("g", "u", 0); off != 5 {
		t.Fatal("offset of a live topic dropped")
	}
}
