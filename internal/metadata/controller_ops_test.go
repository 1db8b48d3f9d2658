package metadata

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// assign creates topic name with an explicit assignment.
func (h *harness) assign(name string, assignment ...[]int32) {
	h.t.Helper()
	_, recs, err := h.c.CreateTopic(h.now, CreateTopicRequest{Name: name, NumPartitions: -1, ReplicationFactor: -1, Assignment: assignment})
	if err != nil {
		h.t.Fatal(err)
	}
	h.apply(recs)
}

// advance moves time on by d, with every broker in alive heartbeating.
func (h *harness) advance(d time.Duration, alive ...int32) {
	h.t.Helper()
	h.now = h.now.Add(d)
	for _, id := range alive {
		h.heartbeat(id, false, false)
	}
}

func wantPartition(t *testing.T, h *harness, topic string, p int32, leader int32, isr []int32, leaderEpoch int32) {
	t.Helper()
	got := h.partition(topic, p)
	if got.Leader != leader || !slices.Equal(got.ISR, isr) || got.LeaderEpoch != leaderEpoch {
		t.Fatalf("%s-%d: leader %d ISR %v leader epoch %d; want %d %v %d", topic, p, got.Leader, got.ISR, got.LeaderEpoch, leader, isr, leaderEpoch)
	}
}

func TestTickFencesSilentBrokers(t *testing.T) {
	h := newHarness(t, testConfig(), "", "", "")
	h.assign("t", []int32{1, 2, 3}, []int32{2, 1, 3})
	h.assign("s", []int32{1})
	session := h.c.cfg.SessionTimeout

	// Broker 1 goes silent; at exactly the session timeout it is not yet
	// fenced.
	h.advance(session, 2, 3)
	if recs := h.c.Tick(h.now); len(recs) != 0 {
		t.Fatalf("fenced at the timeout: %s", dump(recs))
	}
	h.advance(time.Millisecond, 2, 3)
	recs := h.c.Tick(h.now)
	h.apply(recs)
	if b, _ := h.img.Broker(1); !b.Fenced {
		t.Fatalf("broker 1 not fenced")
	}
	wantPartition(t, h, "t", 0, 2, []int32{2, 3}, 1) // leadership moved to the next ISR replica
	wantPartition(t, h, "t", 1, 2, []int32{2, 3}, 0) // left the ISR only
	wantPartition(t, h, "s", 0, -1, []int32{1}, 1)   // last ISR member: no leader, ISR kept
	if len(h.c.Tick(h.now)) != 0 {
		t.Fatalf("fenced twice")
	}

	// Broker 1 comes back (same registration) and catches up: unfenced, it
	// leads the partition whose ISR it kept.
	h.advance(time.Second, 1, 2, 3)
	if b, _ := h.img.Broker(1); b.Fenced {
		t.Fatalf("broker 1 still fenced")
	}
	wantPartition(t, h, "s", 0, 1, []int32{1}, 2)
	wantPartition(t, h, "t", 0, 2, []int32{2, 3}, 1) // no automatic return of leadership

	// Two brokers at once, one the last ISR member with the other: the ISR
	// keeps them both, either can come back as leader.
	h.assign("u", []int32{2, 3})
	h.advance(session+time.Millisecond, 1)
	h.apply(h.c.Tick(h.now))
	wantPartition(t, h, "u", 0, -1, []int32{2, 3}, 1)
	wantPartition(t, h, "t", 0, -1, []int32{2, 3}, 2)
	h.advance(time.Second, 3)
	wantPartition(t, h, "u", 0, 3, []int32{3}, 2)
}

func TestUncleanLeaderElectionConfig(t *testing.T) {
	cfg := testConfig()
	cfg.UncleanLeaderElection = true
	h := newHarness(t, cfg, "", "")
	h.assign("t", []int32{1, 2})
	// Shrink the ISR to [1], then lose 1: 2 is elected although not in the ISR.
	res, recs, err := h.c.AlterPartition(h.now, AlterPartitionRequest{NodeID: 1, BrokerEpoch: h.epochs[1],
		Partitions: []AlterPartitionItem{{Topic: "t", NewISR: []int32{1}}}})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	h.apply(recs)
	h.advance(h.c.cfg.SessionTimeout+time.Millisecond, 2)
	h.apply(h.c.Tick(h.now))
	wantPartition(t, h, "t", 0, 2, []int32{2}, 1)
}

func TestControlledShutdown(t *testing.T) {
	h := newHarness(t, testConfig(), "", "", "")
	h.assign("t", []int32{1, 2, 3})
	h.assign("v", []int32{2, 1})
	h.assign("s", []int32{1})
	res := h.heartbeat(1, false, true)
	if !res.ShouldShutDown || !res.IsFenced {
		t.Fatalf("shutdown heartbeat: %+v", res)
	}
	wantPartition(t, h, "t", 0, 2, []int32{2, 3}, 1)
	wantPartition(t, h, "v", 0, 2, []int32{2}, 0)
	wantPartition(t, h, "s", 0, -1, []int32{1}, 1)
	if b, _ := h.img.Broker(1); !b.Fenced {
		t.Fatalf("not fenced")
	}
	// Later heartbeats of the same registration keep shutting down and
	// change nothing, and it cannot rejoin an ISR.
	res, recs, err := h.c.Heartbeat(h.now, BrokerHeartbeat{NodeID: 1, BrokerEpoch: h.epochs[1], CurrentMetadataOffset: h.img.Offset})
	if err != nil || len(recs) != 0 || !res.ShouldShutDown {
		t.Fatalf("%+v %v %v", res, recs, err)
	}
	ap, _, _ := h.c.AlterPartition(h.now, AlterPartitionRequest{NodeID: 2, BrokerEpoch: h.epochs[2],
		Partitions: []AlterPartitionItem{{Topic: "v", Partition: 0, LeaderEpoch: 0, PartitionEpoch: 1, NewISR: []int32{2, 1}}}})
	wantCode(t, ap[0].Err, kerr.IneligibleReplica)

	// WantFence fences without a shutdown.
	res = h.heartbeat(3, true, false)
	if !res.IsFenced || res.ShouldShutDown {
		t.Fatalf("want fence: %+v", res)
	}
	wantPartition(t, h, "t", 0, 2, []int32{2}, 1)
}

func TestHeartbeatErrors(t *testing.T) {
	h := newHarness(t, testConfig(), "")
	_, _, err := h.c.Heartbeat(h.now, BrokerHeartbeat{NodeID: 7})
	wantCode(t, err, kerr.BrokerIDNotRegistered)
	_, _, err = h.c.Heartbeat(h.now, BrokerHeartbeat{NodeID: 1, BrokerEpoch: h.epochs[1] - 1})
	wantCode(t, err, kerr.StaleBrokerEpoch)
}

// TestNewActiveControllerKeepsBrokers: a new active controller does not
// fence brokers that were heartbeating to its predecessor, however long
// it has been since it last heard of them.
func TestNewActiveControllerKeepsBrokers(t *testing.T) {
	h := newHarness(t, testConfig(), "", "")
	h.assign("t", []int32{1, 2})
	h.advance(time.Hour) // the old controller heard nothing (it was not active)
	c, err := NewController(h.img, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	c.NewActiveController(h.now)
	h.advance(h.c.cfg.SessionTimeout)
	if recs := c.Tick(h.now); len(recs) != 0 {
		t.Fatalf("failover fenced: %s", dump(recs))
	}
	h.advance(time.Millisecond, 2)
	h.apply(c.Tick(h.now))
	if b, _ := h.img.Broker(1); !b.Fenced {
		t.Fatalf("silent broker not fenced after a session")
	}
	// A controller that never called NewActiveController starts a
	// broker's session at the first Tick that sees it.
	c2, _ := NewController(h.img, testConfig())
	if recs := c2.Tick(h.now.Add(time.Hour)); len(recs) != 0 {
		t.Fatalf("fenced at the first tick: %s", dump(recs))
	}
}

func TestAlterPartition(t *testing.T) {
	h := newHarness(t, testConfig(), "", "", "", "")
	h.assign("t", []int32{1, 2, 3}, []int32{2, 1, 3})
	h.heartbeat(4, true, false) // 4 fenced
	id := h.img.topics["t"].ID
	item := func(mod func(*AlterPartitionItem)) AlterPartitionItem {
		it := AlterPartitionItem{TopicID: id, Partition: 0, LeaderEpoch: 0, PartitionEpoch: 0, NewISR: []int32{1, 2}}
		mod(&it)
		return it
	}
	for _, tc := range []struct {
		name  string
		node  int32
		epoch int64
		item  AlterPartitionItem
		code  *kerr.Error
	}{
		{"not the leader", 2, 0, item(func(*AlterPartitionItem) {}), kerr.NotLeaderForPartition},
		{"old leader epoch", 1, 0, item(func(i *AlterPartitionItem) { i.LeaderEpoch = -1 }), kerr.FencedLeaderEpoch},
		{"old partition epoch", 1, 0, item(func(i *AlterPartitionItem) { i.PartitionEpoch = 5 }), kerr.InvalidUpdateVersion},
		{"ISR without the leader", 1, 0, item(func(i *AlterPartitionItem) { i.NewISR = []int32{2, 3} }), kerr.InvalidRequest},
		{"ISR outside the replicas", 1, 0, item(func(i *AlterPartitionItem) { i.NewISR = []int32{1, 4} }), kerr.InvalidRequest},
		{"duplicate in the ISR", 1, 0, item(func(i *AlterPartitionItem) { i.NewISR = []int32{1, 1} }), kerr.InvalidRequest},
		{"empty ISR", 1, 0, item(func(i *AlterPartitionItem) { i.NewISR = nil }), kerr.InvalidRequest},
		{"unknown topic id", 1, 0, item(func(i *AlterPartitionItem) { i.TopicID = idB }), kerr.UnknownTopicID},
		{"unknown topic name", 1, 0, item(func(i *AlterPartitionItem) { i.TopicID, i.Topic = TopicID{}, "nope" }), kerr.UnknownTopicOrPartition},
		{"unknown partition", 1, 0, item(func(i *AlterPartitionItem) { i.Partition = 2 }), kerr.UnknownTopicOrPartition},
		{"shrink", 1, 0, item(func(*AlterPartitionItem) {}), nil},
		{"by name", 1, 0, item(func(i *AlterPartitionItem) { i.TopicID, i.Topic = TopicID{}, "t" }), nil},
		{"unchanged", 1, 0, item(func(i *AlterPartitionItem) { i.NewISR = []int32{1, 2, 3} }), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, recs, err := h.c.AlterPartition(h.now, AlterPartitionRequest{NodeID: tc.node, BrokerEpoch: h.epochs[tc.node] + tc.epoch,
				Partitions: []AlterPartitionItem{tc.item}})
			if err != nil {
				t.Fatal(err)
			}
			wantCode(t, res[0].Err, tc.code)
			if tc.code != nil {
				if len(recs) != 0 {
					t.Fatalf("records for a refused change: %s", dump(recs))
				}
				return
			}
			p := h.partition("t", 0)
			if slices.Equal(tc.item.NewISR, p.ISR) {
				if len(recs) != 0 || res[0].PartitionEpoch != p.PartitionEpoch {
					t.Fatalf("no-op: %+v %s", res[0], dump(recs))
				}
				return
			}
			if _, err := h.img.Apply(recs...); err != nil || res[0].PartitionEpoch != 1 || !slices.Equal(res[0].ISR, tc.item.NewISR) || res[0].Leader != 1 {
				t.Fatalf("%+v %v", res[0], err)
			}
		})
	}
	// Whole-request errors, a duplicate partition, an ineligible replica.
	_, _, err := h.c.AlterPartition(h.now, AlterPartitionRequest{NodeID: 1, BrokerEpoch: h.epochs[1] + 1})
	wantCode(t, err, kerr.StaleBrokerEpoch)
	_, _, err = h.c.AlterPartition(h.now, AlterPartitionRequest{NodeID: 9})
	wantCode(t, err, kerr.StaleBrokerEpoch)
	res, recs, _ := h.c.AlterPartition(h.now, AlterPartitionRequest{NodeID: 1, BrokerEpoch: h.epochs[1], Partitions: []AlterPartitionItem{
		{TopicID: id, NewISR: []int32{1}}, {TopicID: id, NewISR: []int32{1, 2}}}})
	wantCode(t, res[0].Err, nil)
	wantCode(t, res[1].Err, kerr.InvalidRequest)
	h.apply(recs)
	wantPartition(t, h, "t", 0, 1, []int32{1}, 0)
	// 3 fenced: it may not rejoin; 2 may.
	h.heartbeat(3, true, false)
	p := h.partition("t", 0)
	res, _, _ = h.c.AlterPartition(h.now, AlterPartitionRequest{NodeID: 1, BrokerEpoch: h.epochs[1], Partitions: []AlterPartitionItem{
		{TopicID: id, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, NewISR: []int32{1, 3}}}})
	wantCode(t, res[0].Err, kerr.IneligibleReplica)
	res, recs, _ = h.c.AlterPartition(h.now, AlterPartitionRequest{NodeID: 1, BrokerEpoch: h.epochs[1], Partitions: []AlterPartitionItem{
		{TopicID: id, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, NewISR: []int32{1, 2}}}})
	wantCode(t, res[0].Err, nil)
	h.apply(recs)
	wantPartition(t, h, "t", 0, 1, []int32{1, 2}, 0)
}

func TestCreateTopics(t *testing.T) {
	h := newHarness(t, testConfig(), "a", "b", "c", "")
	h.heartbeat(4, true, false) // 4 fenced: 3 eligible brokers
	h.assign("exists")
	h.assign("ex.ists")
	for _, tc := range []struct {
		name string
		req  CreateTopicRequest
		code *kerr.Error
	}{
		{"empty name", CreateTopicRequest{NumPartitions: 1, ReplicationFactor: 1}, kerr.InvalidTopicException},
		{"dot", CreateTopicRequest{Name: ".", NumPartitions: 1, ReplicationFactor: 1}, kerr.InvalidTopicException},
		{"bad character", CreateTopicRequest{Name: "a/b", NumPartitions: 1, ReplicationFactor: 1}, kerr.InvalidTopicException},
		{"too long", CreateTopicRequest{Name: string(make([]byte, 250)), NumPartitions: 1, ReplicationFactor: 1}, kerr.InvalidTopicException},
		{"reserved", CreateTopicRequest{Name: "__cluster_metadata", NumPartitions: 1, ReplicationFactor: 1}, kerr.InvalidTopicException},
		{"exists", CreateTopicRequest{Name: "exists", NumPartitions: 1, ReplicationFactor: 1}, kerr.TopicAlreadyExists},
		{"collides", CreateTopicRequest{Name: "ex_ists", NumPartitions: 1, ReplicationFactor: 1}, kerr.InvalidTopicException},
		{"zero partitions", CreateTopicRequest{Name: "x", NumPartitions: 0, ReplicationFactor: 1}, kerr.InvalidPartitions},
		{"too many partitions", CreateTopicRequest{Name: "x", NumPartitions: MaxPartitionsPerTopic + 1, ReplicationFactor: 1}, kerr.InvalidPartitions},
		{"zero rf", CreateTopicRequest{Name: "x", NumPartitions: 1, ReplicationFactor: 0}, kerr.InvalidReplicationFactor},
		{"rf above unfenced brokers", CreateTopicRequest{Name: "x", NumPartitions: 1, ReplicationFactor: 4}, kerr.InvalidReplicationFactor},
		{"assignment and counts", CreateTopicRequest{Name: "x", NumPartitions: 1, ReplicationFactor: -1, Assignment: [][]int32{{1}}}, kerr.InvalidRequest},
		{"empty assignment", CreateTopicRequest{Name: "x", NumPartitions: -1, ReplicationFactor: -1, Assignment: [][]int32{}}, kerr.InvalidPartitions},
		{"uneven assignment", CreateTopicRequest{Name: "x", NumPartitions: -1, ReplicationFactor: -1, Assignment: [][]int32{{1, 2}, {1}}}, kerr.InvalidReplicaAssignment},
		{"duplicate replica", CreateTopicRequest{Name: "x", NumPartitions: -1, ReplicationFactor: -1, Assignment: [][]int32{{1, 1}}}, kerr.InvalidReplicaAssignment},
		{"unregistered replica", CreateTopicRequest{Name: "x", NumPartitions: -1, ReplicationFactor: -1, Assignment: [][]int32{{1, 9}}}, kerr.InvalidReplicaAssignment},
		{"all replicas fenced", CreateTopicRequest{Name: "x", NumPartitions: -1, ReplicationFactor: -1, Assignment: [][]int32{{4}}}, kerr.InvalidReplicaAssignment},
		{"defaults", CreateTopicRequest{Name: "x", NumPartitions: -1, ReplicationFactor: -1}, nil},
		{"placed", CreateTopicRequest{Name: "x", NumPartitions: 6, ReplicationFactor: 3, Configs: map[string]string{"cleanup.policy": "compact"}}, nil},
		{"fenced replica assigned", CreateTopicRequest{Name: "x", NumPartitions: -1, ReplicationFactor: -1, Assignment: [][]int32{{4, 2}}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct, recs, err := h.c.CreateTopic(h.now, tc.req)
			wantCode(t, err, tc.code)
			if err != nil {
				return
			}
			img, err := h.img.Apply(recs...)
			if err != nil {
				t.Fatal(err)
			}
			if err := checkTransition(h.img, img, recs, false); err != nil {
				t.Fatal(err)
			}
			topic, _ := img.Topic(tc.req.Name)
			if topic.ID != ct.ID || int(ct.NumPartitions) != len(topic.Partitions) || !reflect.DeepEqual(topic.Configs, tc.req.Configs) && len(tc.req.Configs) > 0 {
				t.Fatalf("created %+v, topic %+v", ct, topic)
			}
			for _, p := range topic.Partitions {
				if int(ct.ReplicationFactor) != len(p.Replicas) || p.Leader != p.ISR[0] {
					t.Fatalf("partition %+v", p)
				}
				for _, r := range p.Replicas {
					if b, _ := img.Broker(r); b.Fenced != !slices.Contains(p.ISR, r) {
						t.Fatalf("partition %+v: ISR is not the unfenced replicas", p)
					}
				}
			}
		})
	}
	// One request: the second of two equal names exists by then, and a
	// name colliding with the first collides.
	_, errs, recs := h.c.CreateTopics(h.now, []CreateTopicRequest{
		{Name: "y.z", NumPartitions: 1, ReplicationFactor: 1}, {Name: "y.z", NumPartitions: 1, ReplicationFactor: 1},
		{Name: "y_z", NumPartitions: 1, ReplicationFactor: 1}})
	wantCode(t, errs[0], nil)
	wantCode(t, errs[1], kerr.TopicAlreadyExists)
	wantCode(t, errs[2], kerr.InvalidTopicException)
	h.apply(recs)
}

func TestCreatePartitions(t *testing.T) {
	h := newHarness(t, testConfig(), "", "", "")
	h.createTopic("t", 2, 2)
	h.heartbeat(3, true, false)
	for _, tc := range []struct {
		name       string
		topic      string
		total      int32
		assignment [][]int32
		code       *kerr.Error
	}{
		{"unknown topic", "x", 3, nil, kerr.UnknownTopicOrPartition},
		{"fewer", "t", 1, nil, kerr.InvalidPartitions},
		{"same", "t", 2, nil, kerr.InvalidPartitions},
		{"too many", "t", MaxPartitionsPerTopic + 1, nil, kerr.InvalidPartitions},
		{"assignment count", "t", 4, [][]int32{{1, 2}}, kerr.InvalidReplicaAssignment},
		{"assignment rf", "t", 3, [][]int32{{1}}, kerr.InvalidReplicaAssignment},
		{"assignment fenced", "t", 3, [][]int32{{3, 3}}, kerr.InvalidReplicaAssignment},
		{"assignment", "t", 3, [][]int32{{3, 1}}, nil},
		{"placed", "t", 5, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, err := h.c.CreatePartitions(h.now, tc.topic, tc.total, tc.assignment)
			wantCode(t, err, tc.code)
			if err != nil {
				return
			}
			img, err := h.img.Apply(recs...)
			if err != nil {
				t.Fatal(err)
			}
			topic, _ := img.Topic("t")
			if len(topic.Partitions) != int(tc.total) {
				t.Fatalf("%d partitions", len(topic.Partitions))
			}
			for _, p := range topic.Partitions[2:] {
				if len(p.Replicas) != 2 || slices.Contains(p.ISR, 3) || p.Leader != p.ISR[0] {
					t.Fatalf("new partition %+v", p)
				}
			}
		})
	}
	// With one unfenced broker left, rf 2 cannot be placed.
	h.heartbeat(2, true, false)
	_, err := h.c.CreatePartitions(h.now, "t", 3, nil)
	wantCode(t, err, kerr.InvalidReplicationFactor)
}

func TestElectLeaders(t *testing.T) {
	h := newHarness(t, testConfig(), "", "", "")
	h.assign("t", []int32{1, 2}, []int32{1, 2}, []int32{2, 3}, []int32{3, 1})
	// 1 restarts: partitions 0 and 1 move to 2, 3-0 loses 1 from its ISR.
	h.heartbeat(1, true, false)
	h.heartbeat(1, false, false) // unfenced, caught up: but not back in ISRs
	id := h.img.topics["t"].ID
	for _, p := range []int32{0, 1} {
		part := h.partition("t", p)
		res, recs, _ := h.c.AlterPartition(h.now, AlterPartitionRequest{NodeID: 2, BrokerEpoch: h.epochs[2], Partitions: []AlterPartitionItem{
			{TopicID: id, Partition: p, LeaderEpoch: part.LeaderEpoch, PartitionEpoch: part.PartitionEpoch, NewISR: []int32{2, 1}}}})
		wantCode(t, res[0].Err, nil)
		h.apply(recs)
		if p == 0 {
			break // t-1 keeps ISR [2]: its preferred leader is not available
		}
	}
	res, recs := h.c.ElectLeaders(h.now, PreferredElection, []TopicPartition{{"t", 0}, {"t", 1}, {"t", 2}, {"t", 9}, {"x", 0}, {"t", 0}})
	want := []*kerr.Error{nil, kerr.PreferredLeaderNotAvailable, kerr.ElectionNotNeeded, kerr.UnknownTopicOrPartition, kerr.UnknownTopicOrPartition}
	if len(res) != len(want) {
		t.Fatalf("results %+v", res)
	}
	for i, r := range res {
		wantCode(t, r.Err, want[i])
	}
	h.apply(recs)
	wantPartition(t, h, "t", 0, 1, []int32{2, 1}, 2)

	// All partitions: only those needing an election are reported.
	res, recs = h.c.ElectLeaders(h.now, PreferredElection, nil)
	if len(res) != 1 || res[0].Partition != 1 || len(recs) != 0 {
		t.Fatalf("all partitions: %+v %s", res, dump(recs))
	}
	wantCode(t, res[0].Err, kerr.PreferredLeaderNotAvailable)

	// Unclean: t-2 (replicas 2 3) loses both; 3 comes back after 2 left
	// the ISR: an unclean election makes 3 leader with ISR [3].
	res, _ = h.c.ElectLeaders(h.now, UncleanElection, []TopicPartition{{"t", 2}})
	wantCode(t, res[0].Err, kerr.ElectionNotNeeded)
	h.heartbeat(3, true, false)  // t-2: ISR [2]
	h.heartbeat(2, true, false)  // t-2: no leader, ISR [2]
	h.heartbeat(3, false, false) // unfenced; not in the ISR of t-2
	wantPartition(t, h, "t", 2, -1, []int32{2}, 1)
	res, recs = h.c.ElectLeaders(h.now, UncleanElection, []TopicPartition{{"t", 2}})
	wantCode(t, res[0].Err, nil)
	h.c.cfg.UncleanLeaderElection = true // the checker must allow it too
	h.apply(recs)
	h.c.cfg.UncleanLeaderElection = false
	wantPartition(t, h, "t", 2, 3, []int32{3}, 2)
	res, _ = h.c.ElectLeaders(h.now, ElectionType(5), []TopicPartition{{"t", 2}})
	wantCode(t, res[0].Err, kerr.InvalidRequest)
}

func TestElectLeadersUncleanUnavailable(t *testing.T) {
	h := newHarness(t, testConfig(), "", "")
	h.assign("t", []int32{1})
	h.heartbeat(1, true, false)
	res, recs := h.c.ElectLeaders(h.now, UncleanElection, []TopicPartition{{"t", 0}})
	wantCode(t, res[0].Err, kerr.EligibleLeadersNotAvailable)
	if len(recs) != 0 {
		t.Fatal(dump(recs))
	}
}

func TestAllocateProducerIDs(t *testing.T) {
	h := newHarness(t, testConfig(), "", "")
	for i := range 3 {
		node := int32(i%2 + 1)
		block, recs, err := h.c.AllocateProducerIDs(node, h.epochs[node])
		if err != nil || block.Start != int64(i)*ProducerIDBlockSize || block.Len != ProducerIDBlockSize {
			t.Fatalf("block %+v: %v", block, err)
		}
		h.apply(recs)
	}
	if h.img.NextProducerID() != 3*ProducerIDBlockSize {
		t.Fatalf("next %d", h.img.NextProducerID())
	}
	_, _, err := h.c.AllocateProducerIDs(1, h.epochs[1]+1)
	wantCode(t, err, kerr.StaleBrokerEpoch)
	_, _, err = h.c.AllocateProducerIDs(5, 0)
	wantCode(t, err, kerr.StaleBrokerEpoch)
}
