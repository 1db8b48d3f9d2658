package metadata

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// The deterministic simulation: brokers heartbeating, crashing,
// restarting and shutting down, leaders altering ISRs, operators creating
// topics, electing leaders and reassigning partitions (with the automatic
// leader rebalancing), appends failing, and the active controller
// failing over, all over simulated time. The invariants (checkTransition)
// are checked after every batch, and that no healthy broker is fenced;
// at the end every broker comes back and every partition must have a
// leader again.
//
// GREGOR_CONTROLLER_SIM_SEEDS and GREGOR_CONTROLLER_SIM_STEPS make the run
// longer; a failure names its seed, and -run 'TestControllerSimulation/seed=N'
// replays it.

type simBroker struct {
	id          int32
	rack        string
	up          bool
	epoch       int64 // 0: must register
	incarnation int
	nextBeat    time.Time
	lastBeat    time.Time // last heartbeat the controller took, this epoch
	shutdown    bool      // controlled shutdown asked
}

type sim struct {
	t       *testing.T
	rng     *rand.Rand
	cfg     ControllerConfig
	c       *Controller
	img     *Image // committed
	now     time.Time
	brokers []*simBroker
	topics  int
	faults  bool // appends may fail
	stats   map[string]int
}

func TestControllerSimulation(t *testing.T) {
	seeds, steps := envInt("GREGOR_CONTROLLER_SIM_SEEDS", 16), envInt("GREGOR_CONTROLLER_SIM_STEPS", 1500)
	for seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			runSim(t, uint64(seed), steps)
		})
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func runSim(t *testing.T, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, 7))
	cfg := DefaultControllerConfig()
	cfg.Seed = seed
	cfg.UncleanLeaderElection = seed%3 == 2
	img, err := Empty().Apply(&ClusterRecord{ClusterID: "sim"})
	if err != nil {
		t.Fatal(err)
	}
	s := &sim{t: t, rng: rng, cfg: cfg, img: img, now: t0, stats: map[string]int{}}
	s.failover()
	racks := []string{"", "a", "b", "c"}[rng.IntN(4):]
	for i := range 3 + rng.IntN(4) {
		s.brokers = append(s.brokers, &simBroker{id: int32(i + 1), rack: racks[i%len(racks)], up: true, nextBeat: s.now})
	}
	// Everyone registers and is unfenced, then the first topics.
	for range 3 {
		s.heartbeats()
		s.now = s.now.Add(cfg.HeartbeatInterval)
	}
	for range 3 {
		s.createTopic()
	}
	s.faults = true
	for range steps {
		s.step()
	}
	// Heal: every broker up, no faults, a few sessions long. Every
	// partition must have a leader and every broker be unfenced.
	// A broker in controlled shutdown finishes it, then starts again.
	s.faults = false
	for range 60 {
		for _, b := range s.brokers {
			if !b.up {
				s.start(b)
			}
		}
		s.now = s.now.Add(time.Duration(s.rng.IntN(800)) * time.Millisecond)
		s.heartbeats()
		s.commit(s.c.Tick(s.now))
	}
	t.Logf("%d brokers, unclean %v, %v simulated: %v", len(s.brokers), cfg.UncleanLeaderElection, s.now.Sub(t0), s.stats)
	for _, b := range s.img.Brokers() {
		if b.Fenced {
			t.Fatalf("after healing, broker %d is fenced", b.NodeID)
		}
	}
	for _, tp := range s.img.Topics() {
		for _, p := range tp.Partitions {
			if p.Leader == NoLeader {
				t.Fatalf("after healing, %s-%d has no leader: %+v", tp.Name, p.Partition, p)
			}
		}
	}
}

// commit appends records (or, with faults, sometimes fails to): it checks
// the invariants and feeds the image back. It reports whether the records
// were appended.
func (s *sim) commit(records []Record) bool {
	s.t.Helper()
	if len(records) == 0 {
		return true
	}
	if s.faults && s.rng.IntN(20) == 0 {
		s.c.SetImage(s.img) // the append failed: nothing changed
		s.stats["failed appends"]++
		return false
	}
	for _, r := range records {
		switch r := r.(type) {
		case *FenceBrokerRecord:
			s.stats["fences"]++
		case *UnfenceBrokerRecord:
			s.stats["unfences"]++
		case *PartitionChangeRecord:
			s.stats["partition changes"]++
			if r.Leader == NoLeader {
				s.stats["leaderless"]++
			}
		case *BrokerRecord:
			s.stats["registrations"]++
		}
	}
	next, err := s.img.Apply(records...)
	if err != nil {
		s.t.Fatalf("at %v: controller records do not apply: %v\n%s", s.now.Sub(t0), err, dump(records))
	}
	if err := checkTransition(s.img, next, records, s.cfg.UncleanLeaderElection); err != nil {
		s.t.Fatalf("at %v: %v\n%s", s.now.Sub(t0), err, dump(records))
	}
	s.img = next
	s.c.SetImage(next)
	return true
}

func (s *sim) failover() {
	c, err := NewController(s.img, s.cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	c.NewActiveController(s.now)
	s.c = c
	s.cfg.Seed++ // the next controller draws differently
}

func (s *sim) start(b *simBroker) {
	b.up, b.epoch, b.shutdown, b.nextBeat = true, 0, false, s.now
	b.incarnation++
}

func (s *sim) heartbeats() {
	for _, b := range s.brokers {
		if b.up && !b.nextBeat.After(s.now) {
			s.beat(b)
			b.nextBeat = s.now.Add(s.cfg.HeartbeatInterval + time.Duration(s.rng.IntN(500))*time.Millisecond)
		}
	}
}

func (s *sim) beat(b *simBroker) {
	if b.epoch == 0 {
		recs, epoch, err := s.c.RegisterBroker(s.now, BrokerRegistration{NodeID: b.id, ClusterID: "sim", Rack: b.rack,
			Incarnation: IncarnationID{0: byte(b.id), 1: byte(b.incarnation), 2: byte(b.incarnation >> 8), 3: 1}})
		if errors.Is(err, kerr.DuplicateBrokerRegistration) {
			return // the previous process's session has not expired: retry
		}
		if err != nil {
			s.t.Fatalf("register %d: %v", b.id, err)
		}
		if s.commit(recs) {
			b.epoch, b.lastBeat = epoch, s.now
		}
		return
	}
	offset := s.img.Offset
	if s.rng.IntN(5) == 0 {
		offset -= int64(s.rng.IntN(3)) // a broker behind on the log
	}
	res, recs, err := s.c.Heartbeat(s.now, BrokerHeartbeat{NodeID: b.id, BrokerEpoch: b.epoch,
		CurrentMetadataOffset: offset, WantShutDown: b.shutdown})
	if errors.Is(err, kerr.StaleBrokerEpoch) {
		b.epoch = 0 // a later registration of this id won: register again
		return
	}
	if err != nil {
		s.t.Fatalf("heartbeat of %d: %v", b.id, err)
	}
	b.lastBeat = s.now
	if s.commit(recs) && res.ShouldShutDown {
		for _, tp := range s.img.Topics() {
			for _, p := range tp.Partitions {
				if p.Leader == b.id {
					s.t.Fatalf("broker %d told to shut down still leads %s-%d", b.id, tp.Name, p.Partition)
				}
			}
		}
		b.up, b.epoch = false, 0
		s.stats["controlled shutdowns"]++
	}
}

func (s *sim) step() {
	s.now = s.now.Add(time.Duration(s.rng.IntN(800)) * time.Millisecond)
	s.heartbeats()
	b := s.brokers[s.rng.IntN(len(s.brokers))]
	switch r := s.rng.IntN(100); {
	case r < 3 && b.up: // crash (kill -9)
		b.up = false
	case r < 3 || r < 6 && !b.up: // restart
		if !b.up {
			s.start(b)
		}
	case r < 8 && b.up: // controlled shutdown
		b.shutdown = true
	case r < 20:
		s.alterPartition()
	case r < 22:
		s.failover()
		s.stats["failovers"]++
	case r < 25:
		s.elect()
	case r < 27:
		s.createTopic()
	case r < 28:
		s.createPartitions()
	case r < 29 && b.up && b.epoch != 0:
		block, recs, err := s.c.AllocateProducerIDs(b.id, b.epoch)
		if err == nil && s.commit(recs) && block.Start+int64(block.Len) != s.img.NextProducerID() {
			s.t.Fatalf("producer id block %+v, next %d", block, s.img.NextProducerID())
		}
	case r < 32:
		s.reassign()
	case r < 33:
		if recs := s.c.CompleteReassignments(); s.commit(recs) {
			s.stats["reassignments completed on tick"] += len(recs)
		}
	}
	s.tick()
}

// tick runs Tick and checks it fenced no broker that has been
// heartbeating within the session.
func (s *sim) tick() {
	recs := s.c.Tick(s.now)
	for _, r := range recs {
		f, ok := r.(*FenceBrokerRecord)
		if !ok {
			continue
		}
		b := s.brokers[f.NodeID-1]
		if b.up && b.epoch == f.BrokerEpoch && s.now.Sub(b.lastBeat) < s.cfg.SessionTimeout-s.cfg.HeartbeatInterval {
			s.t.Fatalf("at %v: Tick fenced healthy broker %d (last heartbeat %v ago)", s.now.Sub(t0), b.id, s.now.Sub(b.lastBeat))
		}
	}
	s.commit(recs)
}

// randomPartition picks a partition of the committed image.
func (s *sim) randomPartition() (*Topic, Partition, bool) {
	topics := s.img.Topics()
	if len(topics) == 0 {
		return nil, Partition{}, false
	}
	tp := topics[s.rng.IntN(len(topics))]
	return tp, tp.Partitions[s.rng.IntN(len(tp.Partitions))], true
}

// alterPartition has a leader propose a new ISR: itself and a random
// subset of the replicas, sometimes at a stale partition epoch.
func (s *sim) alterPartition() {
	tp, p, ok := s.randomPartition()
	if !ok || p.Leader == NoLeader {
		return
	}
	leader := s.brokers[p.Leader-1]
	if !leader.up || leader.epoch == 0 {
		return
	}
	isr := []int32{p.Leader}
	for _, r := range p.Replicas {
		if r != p.Leader && s.rng.IntN(5) < 3 {
			isr = append(isr, r)
		}
	}
	item := AlterPartitionItem{TopicID: tp.ID, Partition: p.Partition, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, NewISR: isr}
	if s.rng.IntN(10) == 0 {
		item.PartitionEpoch--
	}
	res, recs, err := s.c.AlterPartition(s.now, AlterPartitionRequest{NodeID: p.Leader, BrokerEpoch: leader.epoch, Partitions: []AlterPartitionItem{item}})
	if errors.Is(err, kerr.StaleBrokerEpoch) {
		return
	}
	if err != nil || len(res) != 1 {
		s.t.Fatalf("AlterPartition: %v %v", res, err)
	}
	if res[0].Err != nil {
		var ce *ControllerError
		if !errors.As(res[0].Err, &ce) {
			s.t.Fatalf("AlterPartition error %v is not a ControllerError", res[0].Err)
		}
		return
	}
	if s.commit(recs) {
		s.stats["ISR changes"]++
		got := s.img.topics[tp.Name].Partitions[p.Partition]
		// An ISR change may complete a reassignment, which narrows the
		// ISR to the target (controller_reassign.go).
		if p.Reassigning() && !got.Reassigning() {
			s.stats["reassignments completed by ISR changes"]++
		}
		if !slices.Equal(got.ISR, isr) && !p.Reassigning() || got.PartitionEpoch != res[0].PartitionEpoch {
			s.t.Fatalf("AlterPartition answered %+v, partition is %+v", res[0], got)
		}
	}
}

// reassign moves a random partition to a random target of one to three
// brokers, or cancels its reassignment.
func (s *sim) reassign() {
	tp, p, ok := s.randomPartition()
	if !ok {
		return
	}
	var target []int32
	if s.rng.IntN(4) != 0 {
		for _, i := range s.rng.Perm(len(s.brokers))[:1+s.rng.IntN(3)] {
			target = append(target, s.brokers[i].id)
		}
	}
	res, recs := s.c.AlterPartitionReassignments(s.now, []Reassignment{{TopicPartition{tp.Name, p.Partition}, target}}, true)
	var ce *ControllerError
	if res[0].Err != nil && !errors.As(res[0].Err, &ce) {
		s.t.Fatalf("AlterPartitionReassignments error %v is not a ControllerError", res[0].Err)
	}
	if s.commit(recs) && len(recs) > 0 {
		s.stats["reassignment steps"]++
	}
}

func (s *sim) elect() {
	if s.rng.IntN(4) == 0 {
		s.commit(s.c.RebalanceLeaders(s.now, s.rng.IntN(50)))
		return
	}
	if s.rng.IntN(2) == 0 {
		_, recs := s.c.ElectLeaders(s.now, PreferredElection, nil)
		s.commit(recs)
		return
	}
	tp, p, ok := s.randomPartition()
	if !ok || !s.cfg.UncleanLeaderElection {
		return // an explicit unclean election may elect outside the ISR
	}
	_, recs := s.c.ElectLeaders(s.now, UncleanElection, []TopicPartition{{tp.Name, p.Partition}})
	s.commit(recs)
}

func (s *sim) createTopic() {
	s.topics++
	_, recs, err := s.c.CreateTopic(s.now, CreateTopicRequest{Name: fmt.Sprintf("t%d", s.topics),
		NumPartitions: int32(1 + s.rng.IntN(6)), ReplicationFactor: int16(1 + s.rng.IntN(3))})
	if err != nil && !errors.Is(err, kerr.InvalidReplicationFactor) {
		s.t.Fatalf("CreateTopic: %v", err)
	}
	s.commit(recs)
}

func (s *sim) createPartitions() {
	tp, _, ok := s.randomPartition()
	if !ok || len(tp.Partitions) > 20 {
		return
	}
	recs, err := s.c.CreatePartitions(s.now, tp.Name, int32(len(tp.Partitions)+1+s.rng.IntN(3)), nil)
	if err != nil && !errors.Is(err, kerr.InvalidReplicationFactor) {
		s.t.Fatalf("CreatePartitions: %v", err)
	}
	s.commit(recs)
}
