package group

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Our encoders must produce exactly what Kafka's schemas say; kmsg's
// generated codecs of the same schemas are the reference.
func TestRecordsMatchKafkaSchemas(t *testing.T) {
	key := encodeOffsetKey("grp", "topic", 7)
	var k kmsg.OffsetCommitKey
	if err := k.ReadFrom(key); err != nil || k.Version != 1 || k.Group != "grp" || k.Topic != "topic" || k.Partition != 7 {
		t.Fatalf("offset key: %+v %v", k, err)
	}
	if !bytes.Equal(key, (&kmsg.OffsetCommitKey{Version: 1, Group: "grp", Topic: "topic", Partition: 7}).AppendTo(nil)) {
		t.Fatal("offset key bytes differ from kmsg's")
	}
	gk := encodeGroupKey("grp")
	if !bytes.Equal(gk, (&kmsg.GroupMetadataKey{Version: 2, Group: "grp"}).AppendTo(nil)) {
		t.Fatal("group key bytes differ from kmsg's")
	}

	o := &offset{offset: 42, leaderEpoch: 3, metadata: "md", commitMs: 1000, expireMs: -1}
	ov := encodeOffsetValue(o)
	var v kmsg.OffsetCommitValue
	if err := v.ReadFrom(ov); err != nil || v.Version != 3 || v.Offset != 42 || v.LeaderEpoch != 3 || v.Metadata != "md" || v.CommitTimestamp != 1000 {
		t.Fatalf("offset value v3: %+v %v", v, err)
	}
	o.expireMs = 5000
	ov = encodeOffsetValue(o)
	if err := v.ReadFrom(ov); err != nil || v.Version != 1 || v.ExpireTimestamp != 5000 {
		t.Fatalf("offset value v1: %+v %v", v, err)
	}

	h := newHarness(t, testConfig())
	stableGroup(h, "grp", 2, joinOpts{instance: nil})
	gv := encodeGroupValue(h.c.groups["grp"])
	var g kmsg.GroupMetadataValue
	if err := g.ReadFrom(gv); err != nil || g.Version != 3 || g.ProtocolType != "consumer" || g.Generation != 1 || *g.Protocol != "range" || len(g.Members) != 2 {
		t.Fatalf("group value: %+v %v", g, err)
	}
	if g.Members[0].RebalanceTimeoutMillis != 20000 || g.Members[0].SessionTimeoutMillis != 10000 || len(g.Members[0].Assignment) == 0 {
		t.Fatalf("group member: %+v", g.Members[0])
	}
}

// Every version Kafka may have written, encoded by kmsg, decodes.
func TestDecodeAllValueVersions(t *testing.T) {
	for version := int16(0); version <= 4; version++ {
		ov := (&kmsg.OffsetCommitValue{Version: version, Offset: 9, LeaderEpoch: 2, Metadata: "m", CommitTimestamp: 77, ExpireTimestamp: 88}).AppendTo(nil)
		o, err := decodeOffsetValue(ov)
		if err != nil {
			t.Fatalf("offset value v%d: %v", version, err)
		}
		if o.offset != 9 || o.metadata != "m" || o.commitMs != 77 {
			t.Fatalf("offset value v%d: %+v", version, o)
		}
		if (version >= 3) != (o.leaderEpoch == 2) || (version == 1) != (o.expireMs == 88) {
			t.Fatalf("offset value v%d: %+v", version, o)
		}

		gv := kmsg.GroupMetadataValue{Version: version, ProtocolType: "consumer", Generation: 4, Protocol: kmsg.StringPtr("range"), Leader: kmsg.StringPtr("m1"), CurrentStateTimestamp: 123}
		gv.Members = []kmsg.GroupMetadataValueMember{{MemberID: "m1", InstanceID: kmsg.StringPtr("i"), ClientID: "c", ClientHost: "h", RebalanceTimeoutMillis: 5, SessionTimeoutMillis: 6, Subscription: []byte("s"), Assignment: []byte("a")}}
		g, err := decodeGroupValue(gv.AppendTo(nil))
		if err != nil {
			t.Fatalf("group value v%d: %v", version, err)
		}
		m := g.members[0]
		if g.generation != 4 || g.protocol != "range" || g.leader != "m1" || m.id != "m1" || string(m.subscription) != "s" || string(m.assignment) != "a" || m.sessionTimeoutMs != 6 {
			t.Fatalf("group value v%d: %+v %+v", version, g, m)
		}
		if (version >= 3) != (m.instanceID != nil) || (version >= 2) != (g.stateTimeMs == 123) {
			t.Fatalf("group value v%d: %+v %+v", version, g, m)
		}
	}
	for _, version := range []int16{0, 1} {
		k, err := decodeKey((&kmsg.OffsetCommitKey{Version: version, Group: "g", Topic: "t", Partition: 1}).AppendTo(nil))
		if err != nil || k.kind != keyOffset || k.group != "g" || k.topic != "t" || k.partition != 1 {
			t.Fatalf("offset key v%d: %+v %v", version, k, err)
		}
	}
	if k, err := decodeKey([]byte{0, 5, 0, 1, 'g'}); err != nil || k.kind != keyOther {
		t.Fatalf("new-coordinator key: %+v %v", k, err)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeOffsetKey("g", "t", 1), encodeOffsetValue(&offset{offset: 1, leaderEpoch: -1, expireMs: -1}))
	f.Add(encodeGroupKey("g"), (&kmsg.GroupMetadataValue{Version: 4, ProtocolType: "consumer", Members: []kmsg.GroupMetadataValueMember{{MemberID: "m"}}}).AppendTo(nil))
	f.Add(encodeGroupKey("g"), (&kmsg.GroupMetadataValue{Version: 0, ProtocolType: "consumer"}).AppendTo(nil))
	f.Add([]byte{0, 1}, []byte{0, 4, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{}, []byte(nil))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		// Nothing read from disk may panic; whatever decodes must load.
		_, _ = decodeKey(key)
		_, _ = decodeOffsetValue(value)
		_, _ = decodeGroupValue(value)
		c := New(Config{OffsetsTopicPartitions: 1})
		c.BeginLoad(0)
		_ = c.Replay(0, key, value)
		_ = c.Replay(0, key, nil)
		_ = c.Replay(0, key, value)
		c.EndLoad(1, 0)
		c.Tick(1 << 40)
	})
}

// A coordinator rebuilt from the records of another has the same offsets
// and groups: what a restarted broker sees.
func TestReplayRestoresState(t *testing.T) {
	cfg := testConfig()
	h := newHarness(t, cfg)
	ids, gen := stableGroup(h, "g", 2, joinOpts{topics: []string{"t"}, session: 30000})
	h.commit(8, "g", ids[0], gen, "t", 0, 100)
	h.commit(8, "g", ids[1], gen, "t", 1, 200)
	h.commit(8, "g", ids[1], gen, "t", 1, 201)
	h.commit(8, "simple", "", -1, "t", 0, 7)
	h.commit(8, "gone", "", -1, "t", 0, 7)
	h.c.DeleteGroups(&kmsg.DeleteGroupsRequest{Version: 2, Groups: []string{"gone"}})
	h.drain()

	c2 := New(h.c.cfg)
	for p := range cfg.OffsetsTopicPartitions {
		c2.BeginLoad(p)
	}
	for _, r := range h.records {
		if err := c2.Replay(r.Partition, r.Key, r.Value); err != nil {
			t.Fatal(err)
		}
	}
	for p := range cfg.OffsetsTopicPartitions {
		c2.EndLoad(h.now, p)
	}
	if c2.HasReady() {
		t.Fatalf("loading clean state wrote records: %+v", c2.Ready())
	}
	h.c = c2
	if off, _ := h.fetch("g", "t", 1); off != 201 {
		t.Fatalf("g/t/1 = %d, want 201", off)
	}
	if off, _ := h.fetch("simple", "t", 0); off != 7 {
		t.Fatalf("simple/t/0 = %d", off)
	}
	if _, ok := c2.groups["gone"]; ok {
		t.Fatal("deleted group came back")
	}
	if s := h.state("g"); s != "Stable" {
		t.Fatalf("restored state %s", s)
	}
	// Members go on heartbeating at the same generation.
	if code := h.heartbeat("g", ids[1], gen, nil); code != 0 {
		t.Fatalf("heartbeat after restore: %d", code)
	}
	_, sr := h.sync("g", ids[1], gen, nil)
	if sr.ErrorCode != 0 || string(sr.MemberAssignment) != "assignment-of-"+ids[1] {
		t.Fatalf("sync after restore: %+v", sr)
	}
	// A member that does not come back is expelled after its session.
	h.advance(30000)
	if code := h.heartbeat("g", ids[1], gen, nil); code != kerr.UnknownMemberID.Code {
		t.Fatalf("heartbeat after the sessions ran out: %d", code)
	}
}
