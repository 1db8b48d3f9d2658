package metadata

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// harness drives a Controller as the active controller's node would:
// records are applied to the image (checking the invariants on the way)
// and fed back with SetImage.
type harness struct {
	t      testing.TB
	c      *Controller
	img    *Image
	now    time.Time
	epochs map[int32]int64
}

func newHarness(t testing.TB, cfg ControllerConfig, racks ...string) *harness {
	t.Helper()
	img, err := Empty().Apply(&ClusterRecord{ClusterID: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewController(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, c: c, img: img, now: t0, epochs: map[int32]int64{}}
	c.NewActiveController(h.now)
	for i, rack := range racks {
		h.join(int32(i+1), rack)
	}
	return h
}

func testConfig() ControllerConfig {
	cfg := DefaultControllerConfig()
	cfg.Seed = 1
	return cfg
}

// apply appends records: applies them, checks the invariants between the
// two images, and gives the new image to the controller.
func (h *harness) apply(records []Record) {
	h.t.Helper()
	if len(records) == 0 {
		return
	}
	next, err := h.img.Apply(records...)
	if err != nil {
		h.t.Fatalf("controller records do not apply: %v\n%s", err, dump(records))
	}
	if err := checkTransition(h.img, next, records, h.c.cfg.UncleanLeaderElection); err != nil {
		h.t.Fatalf("%v\n%s", err, dump(records))
	}
	h.img = next
	h.c.SetImage(next)
}

// join registers node and heartbeats until it is unfenced.
func (h *harness) join(node int32, rack string) {
	h.t.Helper()
	recs, epoch, err := h.c.RegisterBroker(h.now, BrokerRegistration{NodeID: node, ClusterID: "c1",
		Incarnation: IncarnationID{0: byte(node), 1: byte(len(h.epochs)), 2: byte(h.img.Offset)}, Rack: rack,
		Endpoints: []Endpoint{{Name: "PLAINTEXT", Host: "localhost", Port: 9000 + node}}})
	if err != nil {
		h.t.Fatal(err)
	}
	h.apply(recs)
	h.epochs[node] = epoch
	res := h.heartbeat(node, false, false)
	if res.IsFenced || !res.IsCaughtUp {
		h.t.Fatalf("broker %d after a caught up heartbeat: %+v", node, res)
	}
}

// heartbeat sends a caught-up heartbeat from node and applies the records.
func (h *harness) heartbeat(node int32, wantFence, wantShutDown bool) BrokerHeartbeatResult {
	h.t.Helper()
	res, recs, err := h.c.Heartbeat(h.now, BrokerHeartbeat{NodeID: node, BrokerEpoch: h.epochs[node],
		CurrentMetadataOffset: h.img.Offset, WantFence: wantFence, WantShutDown: wantShutDown})
	if err != nil {
		h.t.Fatalf("heartbeat of %d: %v", node, err)
	}
	h.apply(recs)
	return res
}

func (h *harness) createTopic(name string, partitions int32, rf int16) *Topic {
	h.t.Helper()
	_, recs, err := h.c.CreateTopic(h.now, CreateTopicRequest{Name: name, NumPartitions: partitions, ReplicationFactor: rf})
	if err != nil {
		h.t.Fatal(err)
	}
	h.apply(recs)
	t, _ := h.img.Topic(name)
	return t
}

func (h *harness) partition(topic string, p int32) Partition {
	t, ok := h.img.Topic(topic)
	if !ok {
		h.t.Fatalf("no topic %s", topic)
	}
	return t.Partitions[p]
}

func dump(records []Record) string {
	s := ""
	for _, r := range records {
		s += fmt.Sprintf("  %T %+v\n", r, r)
	}
	return s
}

// checkTransition checks the design's invariants between two images, the
// second built from the first by records:
//   - every partition: leader ∈ ISR ⊆ replicas (or leader -1), ISR never
//     empty;
//   - LeaderEpoch never decreases and increases exactly when the leader
//     changes; PartitionEpoch increases on every change;
//   - no fenced broker leads;
//   - without unclean election, a new leader was in the previous ISR.
func checkTransition(prev, next *Image, records []Record, unclean bool) error {
	for _, t := range next.Topics() {
		old, existed := prev.TopicByID(t.ID)
		for _, p := range t.Partitions {
			if err := checkPartition(p); err != nil {
				return fmt.Errorf("%s-%d: %v", t.Name, p.Partition, err)
			}
			if p.Leader != NoLeader {
				b, ok := next.Broker(p.Leader)
				if !ok || b.Fenced {
					return fmt.Errorf("%s-%d: led by %d, fenced or unregistered (%v)", t.Name, p.Partition, p.Leader, b)
				}
			}
			if !existed || int(p.Partition) >= len(old.Partitions) {
				continue
			}
			o := old.Partitions[p.Partition]
			changed := p.Leader != o.Leader || !slices.Equal(p.ISR, o.ISR) || !slices.Equal(p.Replicas, o.Replicas)
			switch {
			case p.LeaderEpoch < o.LeaderEpoch || p.PartitionEpoch < o.PartitionEpoch:
				return fmt.Errorf("%s-%d: epochs went back: %+v after %+v", t.Name, p.Partition, p, o)
			case (p.Leader != o.Leader) != (p.LeaderEpoch != o.LeaderEpoch):
				return fmt.Errorf("%s-%d: leader %d->%d with leader epoch %d->%d", t.Name, p.Partition, o.Leader, p.Leader, o.LeaderEpoch, p.LeaderEpoch)
			case changed && p.PartitionEpoch == o.PartitionEpoch:
				return fmt.Errorf("%s-%d: changed without a partition epoch bump", t.Name, p.Partition)
			case !unclean && p.Leader != o.Leader && p.Leader != NoLeader && !slices.Contains(o.ISR, p.Leader):
				return fmt.Errorf("%s-%d: new leader %d was not in the ISR %v", t.Name, p.Partition, p.Leader, o.ISR)
			}
		}
	}
	return nil
}

func wantCode(t *testing.T, err error, code *kerr.Error) {
	t.Helper()
	if code == nil {
		if err != nil {
			t.Fatalf("error %v, want none", err)
		}
		return
	}
	var ce *ControllerError
	if !errors.As(err, &ce) || ce.Kafka != code || !errors.Is(err, code) {
		t.Fatalf("error %v, want %s", err, code.Message)
	}
}

func TestNewControllerConfig(t *testing.T) {
	for _, mod := range []func(*ControllerConfig){
		func(c *ControllerConfig) { c.HeartbeatInterval = 0 },
		func(c *ControllerConfig) { c.SessionTimeout = c.HeartbeatInterval },
		func(c *ControllerConfig) { c.DefaultNumPartitions = 0 },
		func(c *ControllerConfig) { c.DefaultReplicationFactor = 0 },
		func(c *ControllerConfig) { c.MinInsyncReplicas = 0 },
	} {
		cfg := DefaultControllerConfig()
		mod(&cfg)
		if _, err := NewController(Empty(), cfg); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
}

func TestRegisterBroker(t *testing.T) {
	h := newHarness(t, testConfig())
	recs, epoch, err := h.c.RegisterBroker(h.now, BrokerRegistration{NodeID: 1, Incarnation: IncarnationID{1}, Rack: "r"})
	if err != nil {
		t.Fatal(err)
	}
	h.apply(recs)
	h.epochs[1] = epoch
	if b, _ := h.img.Broker(1); !b.Fenced || b.BrokerEpoch != epoch || epoch != h.img.Offset || b.Rack != "r" {
		t.Fatalf("broker %+v, epoch %d, offset %d", b, epoch, h.img.Offset)
	}
	// Not caught up: stays fenced.
	res, recs, err := h.c.Heartbeat(h.now, BrokerHeartbeat{NodeID: 1, BrokerEpoch: epoch, CurrentMetadataOffset: epoch - 1})
	if err != nil || len(recs) != 0 || res.IsCaughtUp || !res.IsFenced {
		t.Fatalf("heartbeat behind: %+v %v %v", res, recs, err)
	}
	if res := h.heartbeat(1, false, false); res.IsFenced || !res.IsCaughtUp {
		t.Fatalf("heartbeat caught up: %+v", res)
	}
	if b, _ := h.img.Broker(1); b.Fenced {
		t.Fatalf("still fenced")
	}

	for _, tc := range []struct {
		name string
		req  BrokerRegistration
		code *kerr.Error
	}{
		{"negative id", BrokerRegistration{NodeID: -1, Incarnation: IncarnationID{1}}, kerr.InvalidRequest},
		{"no incarnation", BrokerRegistration{NodeID: 2}, kerr.InvalidRequest},
		{"other cluster", BrokerRegistration{NodeID: 2, ClusterID: "c2", Incarnation: IncarnationID{2}}, kerr.InconsistentClusterID},
		{"live duplicate", BrokerRegistration{NodeID: 1, Incarnation: IncarnationID{9}}, kerr.DuplicateBrokerRegistration},
		{"same incarnation again", BrokerRegistration{NodeID: 1, Incarnation: IncarnationID{1}}, nil},
		{"new broker", BrokerRegistration{NodeID: 2, ClusterID: "c1", Incarnation: IncarnationID{2}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, epoch, err := h.c.RegisterBroker(h.now, tc.req)
			wantCode(t, err, tc.code)
			if err == nil {
				if _, err := h.img.Apply(recs...); err != nil || epoch <= h.epochs[1] {
					t.Fatalf("records %v epoch %d: %v", recs, epoch, err)
				}
			}
		})
	}
	// Once the first process's session expired, another may take the id.
	h.now = h.now.Add(h.c.cfg.SessionTimeout + time.Millisecond)
	if _, _, err := h.c.RegisterBroker(h.now, BrokerRegistration{NodeID: 1, Incarnation: IncarnationID{9}}); err != nil {
		t.Fatalf("after the session expired: %v", err)
	}
}

func TestReRegistrationMovesLeadership(t *testing.T) {
	h := newHarness(t, testConfig(), "", "")
	_, recs, err := h.c.CreateTopic(h.now, CreateTopicRequest{Name: "t", NumPartitions: -1, ReplicationFactor: -1,
		Assignment: [][]int32{{1, 2}}})
	if err != nil {
		t.Fatal(err)
	}
	h.apply(recs)
	if p := h.partition("t", 0); p.Leader != 1 || !slices.Equal(p.ISR, []int32{1, 2}) {
		t.Fatalf("partition %+v", p)
	}
	// Broker 1 restarts (new incarnation) after its session expired but
	// before Tick fenced it: its registration takes it out of the ISR
	// and leadership first.
	h.now = h.now.Add(h.c.cfg.SessionTimeout + time.Second)
	h.heartbeat(2, false, false)
	recs, epoch, err := h.c.RegisterBroker(h.now, BrokerRegistration{NodeID: 1, Incarnation: IncarnationID{0xff}})
	if err != nil {
		t.Fatal(err)
	}
	h.apply(recs)
	h.epochs[1] = epoch
	if p := h.partition("t", 0); p.Leader != 2 || !slices.Equal(p.ISR, []int32{2}) || p.LeaderEpoch != 1 || p.PartitionEpoch != 1 {
		t.Fatalf("partition after re-registration %+v", p)
	}
	if b, _ := h.img.Broker(1); !b.Fenced || b.BrokerEpoch != epoch {
		t.Fatalf("broker %+v", b)
	}
}

// TestControllerOverLegacyLog: a log written before the controller (a
// version 0 registration, unfenced, epoch 0) works under it: the broker
// heartbeats with epoch 0, a new process of it registers at once, and a
// silent one is fenced like any other.
func TestControllerOverLegacyLog(t *testing.T) {
	img := applyAll(t, sample())
	c, err := NewController(img, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, c: c, img: img, now: t0, epochs: map[int32]int64{1: 0}}
	c.NewActiveController(h.now)
	if res := h.heartbeat(1, false, false); res.IsFenced || !res.IsCaughtUp {
		t.Fatalf("legacy heartbeat: %+v", res)
	}
	h.advance(c.cfg.SessionTimeout + time.Millisecond)
	h.apply(c.Tick(h.now))
	wantPartition(t, h, "a", 0, NoLeader, []int32{1}, 1)
	wantPartition(t, h, "a", 1, NoLeader, []int32{1}, 4)

	// A legacy registration, live or not, gives way to a new process.
	h2 := &harness{t: t, img: img, now: t0, epochs: map[int32]int64{}}
	h2.c, _ = NewController(img, testConfig())
	h2.c.NewActiveController(t0)
	recs, epoch, err := h2.c.RegisterBroker(t0, BrokerRegistration{NodeID: 1, Incarnation: IncarnationID{1}})
	if err != nil {
		t.Fatal(err)
	}
	h2.apply(recs)
	h2.epochs[1] = epoch
	h2.heartbeat(1, false, false)
	wantPartition(t, h2, "a", 0, 1, []int32{1}, 2)
}

// UnregisterBroker removes a broker for good: a live one is fenced in the
// same batch (its leaderships move, it leaves the ISR), the record drops
// the registration, and the partitions keep it as a replica until they
// are reassigned. A second unregistration is BROKER_ID_NOT_REGISTERED.
func TestUnregisterBroker(t *testing.T) {
	h := newHarness(t, testConfig(), "", "", "")
	_, recs, err := h.c.CreateTopic(h.now, CreateTopicRequest{Name: "t", NumPartitions: -1, ReplicationFactor: -1,
		Assignment: [][]int32{{3, 1, 2}}})
	if err != nil {
		t.Fatal(err)
	}
	h.apply(recs)
	recs, err = h.c.UnregisterBroker(3)
	if err != nil {
		t.Fatal(err)
	}
	h.apply(recs)
	if _, ok := h.img.Broker(3); ok {
		t.Fatal("broker 3 is still registered")
	}
	p := h.partition("t", 0)
	if p.Leader == 3 || slices.Contains(p.ISR, 3) || !slices.Equal(p.Replicas, []int32{3, 1, 2}) || p.LeaderEpoch != 1 {
		t.Fatalf("partition after unregistering its leader: %+v", p)
	}
	// New topics are placed on the registered brokers only.
	if tp := h.createTopic("u", 4, 2); tp != nil {
		for _, p := range tp.Partitions {
			if slices.Contains(p.Replicas, 3) {
				t.Fatalf("new partition on the unregistered broker: %+v", p)
			}
		}
	}
	if _, err := h.c.UnregisterBroker(3); !errors.Is(err, kerr.BrokerIDNotRegistered) {
		t.Fatalf("second unregistration: %v", err)
	}
}
