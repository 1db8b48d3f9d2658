package group

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzCoordinator drives the coordinator with arbitrary sequences of
// requests and clock ticks, as a hostile or buggy client could: nothing
// may panic, every parked request is answered at most once, and KIP-848
// groups never give one partition to two members.
func FuzzCoordinator(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0, 1, 2, 0, 9, 50, 3, 0, 4, 1, 7, 7, 8, 0, 8, 1, 9, 200})
	f.Add([]byte{8, 0, 8, 1, 8, 2, 9, 9, 8, 0, 8, 1, 5, 2, 9, 255, 9, 255, 6, 1})
	f.Add([]byte{0, 3, 0, 3, 1, 3, 2, 3, 4, 3, 10, 0, 11, 1, 12, 2, 9, 120})
	f.Fuzz(func(t *testing.T, ops []byte) {
		cfg := testConfig()
		cfg.GroupMinSessionTimeoutMs = 1000
		cfg.ConsumerSessionTimeoutMs = 5000
		cfg.OffsetsRetentionMs = 20000
		cfg.OffsetsRetentionCheckIntervalMs = 1000
		h := newHarness(t, cfg)
		h.c.SetTopics(h.now, topicT(4))
		groups := []string{"a", "b"}
		members := []string{"", "c-1", "c-2", "c-3", "c-4"}
		var fakes [2][]*fakeConsumer // per KIP-848 group
		for i := range fakes {
			fakes[i] = []*fakeConsumer{newFake("x", "t"), newFake("y", "t"), newFake("z", "t")}
			fakes[i][2].instance = ptr("static")
		}
		var gens [2]int32
		next := func() byte {
			if len(ops) == 0 {
				return 0
			}
			b := ops[0]
			ops = ops[1:]
			return b
		}
		for steps := 0; len(ops) > 0 && steps < 500; steps++ {
			op, arg := next()%13, next()
			g := groups[arg&1]
			m := members[int(arg>>1)%len(members)]
			gi := arg & 1
			switch op {
			case 0, 1:
				o := joinOpts{session: 1000 + int32(arg)*10, rebalance: 2000, version: int16(arg % 10)}
				if arg&0x80 != 0 {
					o.instance = ptr("i")
				}
				if op == 1 {
					o.protocols = []string{"cooperative-sticky", "range"}
				}
				_, r := h.join(g, m, o)
				if r != nil && r.ErrorCode == 0 {
					gens[gi] = r.Generation
				}
			case 2:
				h.sync(g, m, gens[gi], map[string][]byte{m: {byte(arg)}})
			case 3:
				h.heartbeat(g, m, gens[gi], nil)
			case 4:
				h.c.LeaveGroup(h.now, &kmsg.LeaveGroupRequest{Version: int16(arg % 6), Group: g, MemberID: m,
					Members: []kmsg.LeaveGroupRequestMember{{MemberID: m}, {InstanceID: ptr("i")}}})
			case 5:
				h.commit(int16(arg%10), g, m, gens[gi]-int32(arg&2), "t", int32(arg%5), int64(arg))
			case 6:
				h.fetch(g, "t", int32(arg%4))
				h.c.OffsetFetch(&kmsg.OffsetFetchRequest{Version: int16(arg % 10), Group: g})
			case 7:
				h.c.OffsetDelete(&kmsg.OffsetDeleteRequest{Group: g, Topics: []kmsg.OffsetDeleteRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}})
			case 8:
				fc := fakes[gi][int(arg>>1)%3]
				if arg&0x40 != 0 {
					fc.epoch = -1 - int32(arg&1)
				}
				if r := h.cgh("c"+g, fc, arg&0x20 != 0); r.ErrorCode != 0 {
					fc.epoch, fc.owned = 0, assignment{}
				}
				if fc.epoch < 0 {
					fc.epoch, fc.owned = 0, assignment{}
				}
				// A member the coordinator expelled (session or rebalance
				// timeout) may still think it owns partitions until its
				// next heartbeat: the protocol's liveness assumption.
				// Exclusivity holds among the members it knows.
				var live []*fakeConsumer
				if cgrp := h.c.groups["c"+g]; cgrp != nil && cgrp.consumer != nil {
					for _, f := range fakes[gi] {
						if cgrp.consumer.members[f.id] != nil {
							live = append(live, f)
						}
					}
				}
				h.checkExclusive("c"+g, live)
			case 9:
				h.advance(int64(arg) * 50)
			case 10:
				h.c.DeleteGroups(&kmsg.DeleteGroupsRequest{Version: 2, Groups: []string{g, "c" + g}})
			case 11:
				h.c.ListGroups(&kmsg.ListGroupsRequest{Version: 5, StatesFilter: []string{"stable"}})
				h.c.DescribeGroups(&kmsg.DescribeGroupsRequest{Version: 6, Groups: []string{g}})
				h.c.ConsumerGroupDescribe(&kmsg.ConsumerGroupDescribeRequest{Groups: []string{"c" + g}})
			case 12:
				n := int32(arg%6) + 1
				h.c.SetTopics(h.now, []TopicInfo{{Name: "t", ID: TopicID{1}, Partitions: n}, {Name: fmt.Sprint("u", arg%3), ID: TopicID{2 + arg%3}, Partitions: 2}})
			}
			for _, cg := range h.c.groups {
				if cg.kind == kindClassic && cg.classic.awaitingJoin < 0 {
					t.Fatalf("awaitingJoin %d", cg.classic.awaitingJoin)
				}
			}
		}
		// Everything ends: members expire, rebalances finish.
		for range 10 {
			h.advance(60_000)
		}
	})
}
