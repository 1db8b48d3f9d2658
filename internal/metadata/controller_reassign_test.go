package metadata

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// reassign asks the controller for target replicas of topic-0 (nil:
// cancel), applies the records and returns the partition's error.
func (h *harness) reassign(topic string, target []int32) error {
	h.t.Helper()
	res, recs := h.c.AlterPartitionReassignments(h.now, []Reassignment{{TopicPartition{topic, 0}, target}}, true)
	if res[0].Err != nil && len(recs) != 0 {
		h.t.Fatalf("records for a refused reassignment: %s", dump(recs))
	}
	h.apply(recs)
	return res[0].Err
}

// alterISR sends the leader's ISR proposal for topic-0 at the current
// epochs and applies the records.
func (h *harness) alterISR(topic string, isr ...int32) {
	h.t.Helper()
	p := h.partition(topic, 0)
	res, recs, err := h.c.AlterPartition(h.now, AlterPartitionRequest{NodeID: p.Leader, BrokerEpoch: h.epochs[p.Leader],
		Partitions: []AlterPartitionItem{{Topic: topic, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, NewISR: isr}}})
	if err != nil || res[0].Err != nil {
		h.t.Fatalf("AlterPartition %v: %v %v", isr, err, res[0].Err)
	}
	h.apply(recs)
}

// wantReplicas checks topic-0's replicas, adding and removing replicas.
func wantReplicas(t *testing.T, h *harness, topic string, replicas, adding, removing []int32) {
	t.Helper()
	p := h.partition(topic, 0)
	if !slices.Equal(p.Replicas, replicas) || !slices.Equal(p.AddingReplicas, adding) || !slices.Equal(p.RemovingReplicas, removing) {
		t.Fatalf("%s-0: replicas %v adding %v removing %v; want %v %v %v", topic, p.Replicas, p.AddingReplicas, p.RemovingReplicas,
			replicas, adding, removing)
	}
}

// Each step of a reassignment, as table rows run in order on one
// cluster of six brokers: the records of each step apply (the harness
// checks the invariants between images) and leave the partition as the
// row says.
func TestReassignmentSteps(t *testing.T) {
	h := newHarness(t, testConfig(), "", "", "", "", "", "")
	h.assign("t", []int32{1, 2, 3})
	for _, step := range []struct {
		name                       string
		do                         func() error
		code                       *kerr.Error
		replicas, adding, removing []int32
		leader                     int32
		isr                        []int32
		leaderEpoch                int32
	}{
		{"start: target first, then the leaving replicas",
			func() error { return h.reassign("t", []int32{2, 3, 4}) }, nil,
			[]int32{2, 3, 4, 1}, []int32{4}, []int32{1}, 1, []int32{1, 2, 3}, 0},
		{"the same target again changes nothing",
			func() error { return h.reassign("t", []int32{2, 3, 4}) }, nil,
			[]int32{2, 3, 4, 1}, []int32{4}, []int32{1}, 1, []int32{1, 2, 3}, 0},
		{"an ISR change that does not hold the adding replica does not complete",
			func() error { h.alterISR("t", 1, 2); return nil }, nil,
			[]int32{2, 3, 4, 1}, []int32{4}, []int32{1}, 1, []int32{1, 2}, 0},
		{"the adding replica joins the ISR: completed, the leaving leader gives way",
			func() error { h.alterISR("t", 1, 2, 4); return nil }, nil,
			[]int32{2, 3, 4}, nil, nil, 2, []int32{2, 4}, 1},
		{"cancel with nothing in progress",
			func() error { return h.reassign("t", nil) }, kerr.NoReassignmentInProgress,
			[]int32{2, 3, 4}, nil, nil, 2, []int32{2, 4}, 1},
		{"a reorder of the same replicas is no reassignment",
			func() error { return h.reassign("t", []int32{4, 3, 2}) }, nil,
			[]int32{4, 3, 2}, nil, nil, 2, []int32{2, 4}, 1},
		{"two adding replicas",
			func() error { return h.reassign("t", []int32{5, 6, 2}) }, nil,
			[]int32{5, 6, 2, 4, 3}, []int32{5, 6}, []int32{4, 3}, 2, []int32{2, 4}, 1},
		{"one of them in the ISR is not enough",
			func() error { h.alterISR("t", 2, 4, 5); return nil }, nil,
			[]int32{5, 6, 2, 4, 3}, []int32{5, 6}, []int32{4, 3}, 2, []int32{2, 4, 5}, 1},
		{"a new target starts from the original replicas and keeps the copy of 5, which completes it",
			func() error { return h.reassign("t", []int32{5, 3, 2}) }, nil,
			[]int32{5, 3, 2}, nil, nil, 2, []int32{2, 5}, 1},
		{"start, then cancel: back to the original replicas, without the adding ones in the ISR",
			func() error {
				if err := h.reassign("t", []int32{6, 3, 2}); err != nil {
					return err
				}
				h.alterISR("t", 2, 5, 3)
				return h.reassign("t", nil)
			}, nil,
			[]int32{3, 2, 5}, nil, nil, 2, []int32{2, 5, 3}, 1},
	} {
		err := step.do()
		if step.code != nil || err != nil {
			wantCode(t, err, step.code)
		}
		wantReplicas(t, h, "t", step.replicas, step.adding, step.removing)
		wantPartition(t, h, "t", 0, step.leader, step.isr, step.leaderEpoch)
		if t.Failed() {
			t.Fatalf("after step %q", step.name)
		}
	}
}

// Cancelling a reassignment whose adding replica took the leadership
// (the old leader was fenced) moves the leadership back to an original
// replica of the ISR, with a new leader epoch.
func TestReassignmentCancelMovesLeaderBack(t *testing.T) {
	h := newHarness(t, testConfig(), "", "", "", "", "")
	h.assign("t", []int32{1, 2, 3})
	if err := h.reassign("t", []int32{4, 2, 5}); err != nil {
		t.Fatal(err)
	}
	wantReplicas(t, h, "t", []int32{4, 2, 5, 1, 3}, []int32{4, 5}, []int32{1, 3})
	h.alterISR("t", 1, 2, 4) // 4 caught up, 5 not yet, 3 fell behind
	// 1 dies: the first replica in the ISR leads, and that is 4.
	h.advance(h.c.cfg.SessionTimeout+time.Millisecond, 2, 3, 4, 5)
	h.apply(h.c.Tick(h.now))
	wantPartition(t, h, "t", 0, 4, []int32{2, 4}, 1)
	if err := h.reassign("t", nil); err != nil {
		t.Fatal(err)
	}
	// Back to the original replicas (in the order Replicas had them).
	wantReplicas(t, h, "t", []int32{2, 1, 3}, nil, nil)
	wantPartition(t, h, "t", 0, 2, []int32{2}, 2)
}

func TestReassignmentErrors(t *testing.T) {
	h := newHarness(t, testConfig(), "", "", "", "")
	h.assign("t", []int32{1, 2, 3})
	h.assign("one", []int32{1})
	for _, tc := range []struct {
		name     string
		req      Reassignment
		allowRF  bool
		code     *kerr.Error
		nRecords int
	}{
		{"unknown topic", Reassignment{TopicPartition{"nope", 0}, []int32{1}}, true, kerr.UnknownTopicOrPartition, 0},
		{"unknown partition", Reassignment{TopicPartition{"t", 1}, []int32{1}}, true, kerr.UnknownTopicOrPartition, 0},
		{"empty target", Reassignment{TopicPartition{"t", 0}, []int32{}}, true, kerr.InvalidReplicaAssignment, 0},
		{"duplicate", Reassignment{TopicPartition{"t", 0}, []int32{1, 2, 2}}, true, kerr.InvalidReplicaAssignment, 0},
		{"unregistered broker", Reassignment{TopicPartition{"t", 0}, []int32{1, 2, 9}}, true, kerr.InvalidReplicaAssignment, 0},
		{"negative id", Reassignment{TopicPartition{"t", 0}, []int32{-1, 2, 3}}, true, kerr.InvalidReplicaAssignment, 0},
		{"replication factor change refused", Reassignment{TopicPartition{"t", 0}, []int32{1, 2}}, false, kerr.InvalidReplicationFactor, 0},
		{"cancel without a reassignment", Reassignment{TopicPartition{"t", 0}, nil}, true, kerr.NoReassignmentInProgress, 0},
		{"the current replicas", Reassignment{TopicPartition{"t", 0}, []int32{1, 2, 3}}, false, nil, 0},
		{"shrink completes at once", Reassignment{TopicPartition{"t", 0}, []int32{1, 2}}, true, nil, 1},
		{"grow", Reassignment{TopicPartition{"t", 0}, []int32{1, 2, 3, 4}}, true, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, recs := h.c.AlterPartitionReassignments(h.now, []Reassignment{tc.req}, tc.allowRF)
			wantCode(t, res[0].Err, tc.code)
			if len(recs) != tc.nRecords || res[0].TopicPartition != tc.req.TopicPartition {
				t.Fatalf("%+v %s", res[0], dump(recs))
			}
			if _, err := h.img.Apply(recs...); err != nil {
				t.Fatal(err)
			}
		})
	}
	// A partition named twice: the second is refused.
	res, recs := h.c.AlterPartitionReassignments(h.now, []Reassignment{
		{TopicPartition{"t", 0}, []int32{1, 2}}, {TopicPartition{"t", 0}, []int32{1, 3}}}, true)
	wantCode(t, res[0].Err, nil)
	wantCode(t, res[1].Err, kerr.InvalidRequest)
	h.apply(recs)
	wantReplicas(t, h, "t", []int32{1, 2}, nil, nil)
	wantPartition(t, h, "t", 0, 1, []int32{1, 2}, 0)

	// Moving a one-replica partition elsewhere: the lone ISR member stays
	// (as a removing replica) until the new one has caught up; a second
	// target replaces the first, whose copy is dropped.
	if err := h.reassign("one", []int32{2}); err != nil {
		t.Fatal(err)
	}
	wantReplicas(t, h, "one", []int32{2, 1}, []int32{2}, []int32{1})
	wantPartition(t, h, "one", 0, 1, []int32{1}, 0)
	wantCode(t, h.reassign("one", []int32{3}), nil) // 2 dropped, 1 still there
	wantReplicas(t, h, "one", []int32{3, 1}, []int32{3}, []int32{1})
}

// CompleteReassignments completes what the ISR already allows, e.g. an
// image where the adding replica entered the ISR by a change that did
// not complete it (written by an older controller).
func TestCompleteReassignments(t *testing.T) {
	h := newHarness(t, testConfig(), "", "", "", "")
	h.assign("t", []int32{1, 2, 3})
	if err := h.reassign("t", []int32{2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	if recs := h.c.CompleteReassignments(); len(recs) != 0 {
		t.Fatalf("completed before 4 caught up: %s", dump(recs))
	}
	tp, _ := h.img.Topic("t")
	h.apply([]Record{&PartitionChangeRecord{TopicID: tp.ID, Leader: 1, ISR: []int32{1, 2, 3, 4}, LeaderEpoch: 0, PartitionEpoch: 2}})
	wantReplicas(t, h, "t", []int32{2, 3, 4, 1}, []int32{4}, []int32{1})
	h.apply(h.c.CompleteReassignments())
	wantReplicas(t, h, "t", []int32{2, 3, 4}, nil, nil)
	wantPartition(t, h, "t", 0, 2, []int32{2, 3, 4}, 1)
	if recs := h.c.CompleteReassignments(); len(recs) != 0 {
		t.Fatalf("completed twice: %s", dump(recs))
	}
}

func TestListReassignments(t *testing.T) {
	h := newHarness(t, testConfig(), "", "", "", "")
	h.assign("b", []int32{1, 2}, []int32{2, 3})
	h.assign("a", []int32{1})
	res, recs := h.c.AlterPartitionReassignments(h.now, []Reassignment{
		{TopicPartition{"b", 1}, []int32{3, 4}}, {TopicPartition{"a", 0}, []int32{4}}}, true)
	if res[0].Err != nil || res[1].Err != nil {
		t.Fatal(res)
	}
	h.apply(recs)
	want := []OngoingReassignment{
		{TopicPartition{"a", 0}, []int32{4, 1}, []int32{4}, []int32{1}},
		{TopicPartition{"b", 1}, []int32{3, 4, 2}, []int32{4}, []int32{2}},
	}
	if got := h.img.Reassignments(nil); !reflect.DeepEqual(got, want) {
		t.Fatalf("all: %+v", got)
	}
	got := h.img.Reassignments([]TopicPartition{{"b", 1}, {"b", 0}, {"nope", 0}, {"a", 7}, {"a", 0}, {"b", 1}})
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("named: %+v", got)
	}
	if got := h.img.Reassignments([]TopicPartition{}); got != nil {
		t.Fatalf("none named: %+v", got)
	}
}

// A reassignment in progress survives the encoding, a snapshot, and
// version 0 stays the encoding of every record without one.
func TestReassignmentRecords(t *testing.T) {
	h := newHarness(t, testConfig(), "", "", "")
	h.assign("t", []int32{1, 2})
	res, recs := h.c.AlterPartitionReassignments(h.now, []Reassignment{{TopicPartition{"t", 0}, []int32{2, 3}}}, true)
	if res[0].Err != nil || len(recs) != 1 {
		t.Fatal(res, recs)
	}
	if b := AppendRecord(nil, recs[0]); b[1] != reassignmentV1 {
		t.Fatalf("written as version %d", b[1])
	}
	dec, err := DecodeBatch(EncodeBatch(recs))
	if err != nil || !reflect.DeepEqual(dec, recs) {
		t.Fatalf("round trip: %v %s", err, dump(dec))
	}
	h.apply(recs)
	snap := h.img.Records()
	back, err := ImageFromRecords(h.img.Offset, snap)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(EncodeBatch(back.Records()), EncodeBatch(snap)) {
		t.Fatalf("snapshot round trip differs")
	}
	tp, _ := back.Topic("t")
	if p := tp.Partitions[0]; !slices.Equal(p.AddingReplicas, []int32{3}) || !slices.Equal(p.RemovingReplicas, []int32{1}) {
		t.Fatalf("restored %+v", p)
	}
	for _, r := range []Record{
		&PartitionRecord{Replicas: []int32{1}, ISR: []int32{1}},
		&PartitionChangeRecord{ISR: []int32{1}, Replicas: []int32{1}},
	} {
		if b := AppendRecord(nil, r); b[1] != recordVersion {
			t.Fatalf("%T without a reassignment written as version %d", r, b[1])
		}
	}
	// Version 1 of a type that has none is corrupt.
	if _, err := DecodeRecord([]byte{byte(TypeCluster), reassignmentV1, 0}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("cluster record v1: %v", err)
	}
}

func TestReassignmentRecordsApplyRejects(t *testing.T) {
	base := applyAll(t, clusterSample()[:5]) // a-0: replicas [1 2], ISR [1 2], leader 1, epochs 0
	change := func(replicas, adding, removing []int32) *PartitionChangeRecord {
		return &PartitionChangeRecord{TopicID: idA, Leader: 1, ISR: []int32{1}, Replicas: replicas, PartitionEpoch: 1,
			AddingReplicas: adding, RemovingReplicas: removing}
	}
	for _, tc := range []struct {
		name string
		rec  Record
	}{
		{"adding without replicas", change(nil, []int32{1}, nil)},
		{"adding not a replica", change([]int32{1, 2}, []int32{3}, nil)},
		{"removing not a replica", change([]int32{1, 2}, nil, []int32{3})},
		{"adding and removing", change([]int32{1, 2}, []int32{2}, []int32{2})},
		{"adding twice", change([]int32{1, 2}, []int32{2, 2}, nil)},
		{"snapshot partition with a bad reassignment", &PartitionRecord{TopicID: idA, Partition: 0, Replicas: []int32{1}, ISR: []int32{1},
			Leader: 1, PartitionEpoch: 9, AddingReplicas: []int32{4}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := base.Apply(tc.rec); !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("Apply: %v, want ErrInvalidRecord", err)
			}
		})
	}
	// Clearing the reassignment state alone is a change.
	img, err := base.Apply(change([]int32{1, 2, 3}, []int32{3}, nil))
	if err != nil {
		t.Fatal(err)
	}
	done := change([]int32{1, 2, 3}, nil, nil)
	done.PartitionEpoch = 2
	if _, err := img.Apply(done); err != nil {
		t.Fatal(err)
	}
}

func TestRebalanceLeaders(t *testing.T) {
	h := newHarness(t, testConfig(), "", "", "", "")
	h.assign("t", []int32{1, 2, 3}, []int32{1, 3, 2}, []int32{2, 1, 3}, []int32{1, 2, 3})
	if recs := h.c.RebalanceLeaders(h.now, 10); len(recs) != 0 {
		t.Fatalf("balanced cluster rebalanced: %s", dump(recs))
	}
	// 1 dies: its three leaderships move away. Back, it is not in the ISR:
	// nothing to do yet.
	h.advance(h.c.cfg.SessionTimeout+time.Millisecond, 2, 3, 4)
	h.apply(h.c.Tick(h.now))
	h.advance(time.Second, 1, 2, 3, 4)
	if recs := h.c.RebalanceLeaders(h.now, 10); len(recs) != 0 {
		t.Fatalf("rebalanced to a replica out of the ISR: %s", dump(recs))
	}
	// Back in the ISR of two of them. It leads none of the three it
	// prefers: 100% imbalance.
	for _, i := range []int32{0, 1} {
		p := h.partition("t", i)
		res, recs, err := h.c.AlterPartition(h.now, AlterPartitionRequest{NodeID: p.Leader, BrokerEpoch: h.epochs[p.Leader],
			Partitions: []AlterPartitionItem{{Topic: "t", Partition: i, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch,
				NewISR: append(slices.Clone(p.ISR), 1)}}})
		if err != nil || res[0].Err != nil {
			t.Fatal(err, res)
		}
		h.apply(recs)
	}
	if recs := h.c.RebalanceLeaders(h.now, 100); len(recs) != 0 {
		t.Fatalf("rebalanced at the allowed imbalance: %s", dump(recs))
	}
	recs := h.c.RebalanceLeaders(h.now, 10)
	h.apply(recs)
	if len(recs) != 2 {
		t.Fatalf("want two elections: %s", dump(recs))
	}
	for _, i := range []int32{0, 1} {
		if p := h.partition("t", i); p.Leader != 1 || p.LeaderEpoch != 2 {
			t.Fatalf("t-%d: %+v", i, p)
		}
	}
	if p := h.partition("t", 3); p.Leader == 1 {
		t.Fatalf("t-3 led by 1, which is not in its ISR: %+v", p)
	}
	// A partition being reassigned is left alone, although its new
	// preferred replica 2 is an ISR member that does not lead.
	if err := h.reassign("t", []int32{2, 1, 3, 4}); err != nil {
		t.Fatal(err)
	}
	wantReplicas(t, h, "t", []int32{2, 1, 3, 4}, []int32{4}, nil)
	if recs := h.c.RebalanceLeaders(h.now, 0); len(recs) != 0 {
		t.Fatalf("rebalanced a partition being reassigned: %s", dump(recs))
	}
}

// A replica that joins the ISR does not lead in the same record: when the
// leader leaves and only the joining replica could take over, the
// completion waits for the next CompleteReassignments, which elects it
// from the ISR the log then holds.
func TestReassignmentNewLeaderFromCommittedISR(t *testing.T) {
	h := newHarness(t, testConfig(), "", "", "")
	h.assign("t", []int32{1, 2})
	if err := h.reassign("t", []int32{3}); err != nil {
		t.Fatal(err)
	}
	wantReplicas(t, h, "t", []int32{3, 1, 2}, []int32{3}, []int32{1, 2})
	h.alterISR("t", 1, 2, 3)
	wantReplicas(t, h, "t", []int32{3, 1, 2}, []int32{3}, []int32{1, 2})
	wantPartition(t, h, "t", 0, 1, []int32{1, 2, 3}, 0)
	h.apply(h.c.CompleteReassignments())
	wantReplicas(t, h, "t", []int32{3}, nil, nil)
	wantPartition(t, h, "t", 0, 3, []int32{3}, 1)
}
