package metadata

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Controller is the active controller's state machine (docs/design/
// replication.md): a pure function of (image, request or tick, now) to the
// metadata records to append and the response. It does no I/O, starts no
// goroutine and never reads the clock: time comes in as now.
//
// The caller (the node that is the active controller) drives it:
//
//  1. Call a method with the request and the current time. It reads the
//     Controller's image and returns records and a response.
//  2. Append the records, in order, as one batch (Store.Append), then give
//     the new image to SetImage before the next method call, and only then
//     answer the request. Records are built against the image the
//     Controller holds; appending them after another batch that touched the
//     same brokers or partitions fails Apply (the epochs no longer match),
//     so a stale decision is refused, never written.
//  3. Call Tick every so often (about the heartbeat interval) and append
//     what it returns the same way: it fences brokers whose session
//     expired.
//
// If an append fails, discard the response and answer the request with an
// error; the Controller has changed nothing but liveness, which needs no
// undoing.
//
// Liveness (the time of each broker's last heartbeat, and which brokers
// are shutting down) is kept in memory only, as the design says: it would
// flood the log. NewActiveController restarts every broker's clock, so a
// controller failover never fences healthy brokers. The liveness map is
// keyed by registered node ids, so its size is bounded by the image.
//
// Expected failures are *ControllerError values carrying Kafka's error
// code; a Controller is not safe for concurrent use.
type Controller struct {
	cfg     ControllerConfig
	img     *Image
	rng     *rand.Rand
	brokers map[int32]*liveness
}

// liveness is what the controller knows of a broker beyond the image.
type liveness struct {
	brokerEpoch  int64 // the registration this is about
	lastContact  time.Time
	shuttingDown bool // controlled shutdown asked (WantShutDown)
}

// ControllerConfig holds the controller's settings, with Kafka's names.
type ControllerConfig struct {
	// SessionTimeout is broker.session.timeout.ms: a broker silent for
	// longer is fenced.
	SessionTimeout time.Duration
	// HeartbeatInterval is broker.heartbeat.interval.ms, how often brokers
	// heartbeat (and how often to call Tick); it must be below
	// SessionTimeout.
	HeartbeatInterval time.Duration
	// MinInsyncReplicas is min.insync.replicas' cluster default. The
	// controller does not refuse ISR changes below it: leaders enforce it
	// on acks=all produce (NOT_ENOUGH_REPLICAS), as in Kafka before KIP-966.
	MinInsyncReplicas int16
	// UncleanLeaderElection is unclean.leader.election.enable: when no ISR
	// member is alive, elect any live replica (and lose what only the ISR
	// had) rather than leave the partition without a leader.
	UncleanLeaderElection bool
	// DefaultNumPartitions and DefaultReplicationFactor (num.partitions,
	// default.replication.factor) stand for -1 in CreateTopic.
	DefaultNumPartitions     int32
	DefaultReplicationFactor int16
	// Seed seeds the random choices (placement start, topic ids). Take it
	// from a random source in production; tests fix it for determinism.
	Seed uint64
}

// DefaultControllerConfig returns Kafka's defaults.
func DefaultControllerConfig() ControllerConfig {
	return ControllerConfig{
		SessionTimeout:           9 * time.Second,
		HeartbeatInterval:        2 * time.Second,
		MinInsyncReplicas:        1,
		DefaultNumPartitions:     1,
		DefaultReplicationFactor: 1,
	}
}

// ControllerError is an expected failure of a controller request: the
// Kafka error to answer with and a message for the response's error
// message. errors.Is(err, kerr.X) matches its code.
type ControllerError struct {
	Kafka   *kerr.Error
	Message string
}

func (e *ControllerError) Error() string { return e.Kafka.Message + ": " + e.Message }
func (e *ControllerError) Unwrap() error { return e.Kafka }

func controllerErr(code *kerr.Error, format string, args ...any) error {
	return &ControllerError{Kafka: code, Message: fmt.Sprintf(format, args...)}
}

// NewController returns the controller state machine over img. Liveness
// starts empty: call NewActiveController when this node becomes the active
// controller.
func NewController(img *Image, cfg ControllerConfig) (*Controller, error) {
	switch {
	case cfg.HeartbeatInterval <= 0 || cfg.SessionTimeout <= cfg.HeartbeatInterval:
		return nil, fmt.Errorf("metadata: controller: broker.heartbeat.interval.ms %v must be positive and below broker.session.timeout.ms %v",
			cfg.HeartbeatInterval, cfg.SessionTimeout)
	case cfg.DefaultNumPartitions <= 0 || cfg.DefaultReplicationFactor <= 0 || cfg.MinInsyncReplicas <= 0:
		return nil, fmt.Errorf("metadata: controller: num.partitions %d, default.replication.factor %d and min.insync.replicas %d must be positive",
			cfg.DefaultNumPartitions, cfg.DefaultReplicationFactor, cfg.MinInsyncReplicas)
	}
	return &Controller{cfg: cfg, img: img, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		brokers: map[int32]*liveness{}}, nil
}

// Image is the image the controller decides against.
func (c *Controller) Image() *Image { return c.img }

// SetImage gives the controller the image after an append (its own
// records, or anything else written to the log).
func (c *Controller) SetImage(img *Image) {
	c.img = img
	for id := range c.brokers {
		if _, ok := img.Broker(id); !ok {
			delete(c.brokers, id)
		}
	}
}

// NewActiveController restarts every registered broker's session at now:
// the new active controller has heard none of them yet, and must not fence
// brokers that were heartbeating to its predecessor. Controlled shutdowns
// in progress are forgotten; the brokers ask again in their next
// heartbeat.
func (c *Controller) NewActiveController(now time.Time) {
	clear(c.brokers)
	for _, b := range c.img.Brokers() {
		c.brokers[b.NodeID] = &liveness{brokerEpoch: b.BrokerEpoch, lastContact: now}
	}
}

// liveness returns b's liveness, starting its session at now if the
// controller has not heard of this registration yet.
func (c *Controller) liveness(b *Broker, now time.Time) *liveness {
	l, ok := c.brokers[b.NodeID]
	if !ok || l.brokerEpoch != b.BrokerEpoch {
		l = &liveness{brokerEpoch: b.BrokerEpoch, lastContact: now}
		c.brokers[b.NodeID] = l
	}
	return l
}

// eligible reports whether a node may lead or join an ISR: registered,
// unfenced and not shutting down.
func (c *Controller) eligible(id int32) bool {
	b, ok := c.img.Broker(id)
	if !ok || b.Fenced {
		return false
	}
	l, ok := c.brokers[id]
	return !ok || l.brokerEpoch != b.BrokerEpoch || !l.shuttingDown
}

// BrokerRegistration is a BrokerRegistration request (API 62).
type BrokerRegistration struct {
	NodeID      int32
	ClusterID   string        // "" skips the check
	Incarnation IncarnationID // random per process start; not zero
	Rack        string
	Endpoints   []Endpoint
}

// RegisterBroker registers a broker (or a restart of one) and returns the
// records and its new broker epoch. The registration is fenced until the
// broker's heartbeat shows it caught up. A previous registration that was
// unfenced loses its leaderships and ISR memberships in the same batch:
// the restarted process may have lost what it had not flushed.
//
// The broker epoch is the image offset right after the batch, so a broker
// is caught up when its CurrentMetadataOffset reaches its epoch: it has
// applied its own registration.
func (c *Controller) RegisterBroker(now time.Time, req BrokerRegistration) ([]Record, int64, error) {
	if req.NodeID < 0 {
		return nil, 0, controllerErr(kerr.InvalidRequest, "Broker id %d is negative.", req.NodeID)
	}
	if req.Incarnation == (IncarnationID{}) {
		return nil, 0, controllerErr(kerr.InvalidRequest, "Broker %d registers without an incarnation id.", req.NodeID)
	}
	if req.ClusterID != "" && c.img.ClusterID != "" && req.ClusterID != c.img.ClusterID {
		return nil, 0, controllerErr(kerr.InconsistentClusterID, "Expected cluster ID %s, but got cluster ID %s.", c.img.ClusterID, req.ClusterID)
	}
	var records []Record
	var epoch int64
	if old, ok := c.img.Broker(req.NodeID); ok {
		epoch = old.BrokerEpoch
		if old.Incarnation != (IncarnationID{}) && old.Incarnation != req.Incarnation && !old.Fenced &&
			now.Sub(c.liveness(old, now).lastContact) <= c.cfg.SessionTimeout {
			return nil, 0, controllerErr(kerr.DuplicateBrokerRegistration,
				"Another broker is registered with node id %d and its session has not expired.", req.NodeID)
		}
		if !old.Fenced {
			records = c.partitionChanges(map[int32]bool{req.NodeID: true}, -1)
		}
	}
	epoch = max(epoch+1, c.img.Offset+int64(len(records))+1)
	records = append(records, &BrokerRecord{NodeID: req.NodeID, Rack: req.Rack, Endpoints: slices.Clone(req.Endpoints),
		Incarnation: req.Incarnation, BrokerEpoch: epoch, Fenced: true})
	// Its session starts when the controller first sees the registration
	// in the image (liveness), so a registration that is never appended
	// changes nothing.
	return records, epoch, nil
}

// BrokerHeartbeat is a BrokerHeartbeat request (API 63).
type BrokerHeartbeat struct {
	NodeID                int32
	BrokerEpoch           int64
	CurrentMetadataOffset int64 // the Offset of the broker's image
	WantFence             bool
	WantShutDown          bool
}

// BrokerHeartbeatResult is the BrokerHeartbeat response, true once the
// returned records are appended.
type BrokerHeartbeatResult struct {
	IsCaughtUp     bool
	IsFenced       bool
	ShouldShutDown bool
}

// Heartbeat records a broker's heartbeat and returns the records of the
// liveness changes it asks for or earns:
//
//   - WantShutDown (controlled shutdown): its leaderships move to other
//     live ISR members (NoLeader where there is none), it leaves every ISR
//     it is not the last member of, and it is fenced, in one batch; the
//     answer is ShouldShutDown, as it then leads nothing.
//   - WantFence: the same, without ShouldShutDown.
//   - A fenced broker that has caught up is unfenced, and leads the
//     leaderless partitions it is an ISR member of.
func (c *Controller) Heartbeat(now time.Time, req BrokerHeartbeat) (BrokerHeartbeatResult, []Record, error) {
	b, ok := c.img.Broker(req.NodeID)
	if !ok {
		return BrokerHeartbeatResult{}, nil, controllerErr(kerr.BrokerIDNotRegistered, "Broker %d is not registered.", req.NodeID)
	}
	if b.BrokerEpoch != req.BrokerEpoch {
		return BrokerHeartbeatResult{}, nil, controllerErr(kerr.StaleBrokerEpoch,
			"Broker %d heartbeats with epoch %d, registered with %d.", req.NodeID, req.BrokerEpoch, b.BrokerEpoch)
	}
	l := c.liveness(b, now)
	l.lastContact = now
	res := BrokerHeartbeatResult{IsCaughtUp: req.CurrentMetadataOffset >= b.BrokerEpoch, IsFenced: b.Fenced}
	var records []Record
	switch {
	case req.WantShutDown || l.shuttingDown:
		l.shuttingDown = true
		records = c.fence(b, map[int32]bool{b.NodeID: true})
		res.IsFenced, res.ShouldShutDown = true, true
	case req.WantFence:
		records = c.fence(b, map[int32]bool{b.NodeID: true})
		res.IsFenced = true
	case b.Fenced && res.IsCaughtUp:
		records = append([]Record{&UnfenceBrokerRecord{NodeID: b.NodeID, BrokerEpoch: b.BrokerEpoch}},
			c.partitionChanges(nil, b.NodeID)...)
		res.IsFenced = false
	}
	return res, records, nil
}

// UnregisterBroker removes broker id's registration (UnregisterBroker,
// API 64), for a broker that is gone for good. An unfenced broker is
// fenced in the same batch, its leaderships moved and its ISR memberships
// dropped as if its session had expired; its replicas stay in the
// partitions' replica lists until they are reassigned.
func (c *Controller) UnregisterBroker(id int32) ([]Record, error) {
	b, ok := c.img.Broker(id)
	if !ok {
		return nil, controllerErr(kerr.BrokerIDNotRegistered, "Broker %d is not registered.", id)
	}
	records := c.fence(b, map[int32]bool{id: true})
	records = append(records, &UnregisterBrokerRecord{NodeID: id, BrokerEpoch: b.BrokerEpoch})
	delete(c.brokers, id)
	return records, nil
}

// fence returns the records that take the brokers in gone out of every
// leadership and ISR, then fence b if it is not already.
func (c *Controller) fence(b *Broker, gone map[int32]bool) []Record {
	records := c.partitionChanges(gone, -1)
	if !b.Fenced {
		records = append(records, &FenceBrokerRecord{NodeID: b.NodeID, BrokerEpoch: b.BrokerEpoch})
	}
	return records
}

// Tick fences, in one batch, every unfenced broker silent for longer than
// the session timeout: it leaves every ISR it is not the last member of,
// and its leaderships move to live ISR members (NoLeader where none is).
func (c *Controller) Tick(now time.Time) []Record {
	gone := map[int32]bool{}
	var expired []*Broker
	for _, b := range c.img.Brokers() {
		if b.Fenced {
			continue
		}
		if now.Sub(c.liveness(b, now).lastContact) > c.cfg.SessionTimeout {
			gone[b.NodeID] = true
			expired = append(expired, b)
		}
	}
	if len(expired) == 0 {
		return nil
	}
	records := c.partitionChanges(gone, -1)
	for _, b := range expired {
		records = append(records, &FenceBrokerRecord{NodeID: b.NodeID, BrokerEpoch: b.BrokerEpoch})
	}
	return records
}

// partitionChanges returns the PartitionChangeRecords that take the
// brokers in gone out of every leadership and ISR, and elect leaders for
// leaderless partitions, counting joining (-1 for none) as eligible:
//
//   - A gone broker leaves an ISR unless it would empty it (invariant 3:
//     the last member keeps every acknowledged record).
//   - A gone leader is replaced by the first replica, in replica order,
//     that is in the ISR and eligible; without one, by NoLeader, or with
//     unclean leader election by the first eligible replica (ISR: itself).
//   - A leaderless partition is led the same way when it can be; its ISR
//     then drops the members that are not eligible.
func (c *Controller) partitionChanges(gone map[int32]bool, joining int32) []Record {
	eligible := func(id int32) bool { return id == joining || !gone[id] && c.eligible(id) }
	var records []Record
	for _, t := range c.img.Topics() {
		for _, p := range t.Partitions {
			leader, isr := p.Leader, p.ISR
			if slices.ContainsFunc(isr, func(id int32) bool { return gone[id] }) {
				if kept := slices.DeleteFunc(slices.Clone(isr), func(id int32) bool { return gone[id] }); len(kept) > 0 {
					isr = kept
				}
			}
			if gone[leader] {
				leader = NoLeader
			}
			if leader == NoLeader {
				leader, isr = c.electLeader(p.Replicas, isr, eligible, c.cfg.UncleanLeaderElection)
			}
			if r := changeRecord(t, p, leader, isr, nil); r != nil {
				records = append(records, r)
			}
		}
	}
	return records
}

// electLeader picks a leader: the first replica in the ISR that is
// eligible (the ISR keeps only eligible members), else with unclean the
// first eligible replica (the ISR is just it), else NoLeader and the ISR
// unchanged.
func (c *Controller) electLeader(replicas, isr []int32, eligible func(int32) bool, unclean bool) (int32, []int32) {
	for _, id := range replicas {
		if slices.Contains(isr, id) && eligible(id) {
			return id, slices.DeleteFunc(slices.Clone(isr), func(m int32) bool { return !eligible(m) })
		}
	}
	if unclean {
		for _, id := range replicas {
			if eligible(id) {
				return id, []int32{id}
			}
		}
	}
	return NoLeader, isr
}

// changeRecord returns the record that changes p to leader, isr and (when
// not nil) replicas with the right epochs, or nil when nothing changes.
func changeRecord(t *Topic, p Partition, leader int32, isr, replicas []int32) *PartitionChangeRecord {
	if leader == p.Leader && slices.Equal(isr, p.ISR) && (replicas == nil || slices.Equal(replicas, p.Replicas)) {
		return nil
	}
	leaderEpoch := p.LeaderEpoch
	if leader != p.Leader {
		leaderEpoch++
	}
	return &PartitionChangeRecord{TopicID: t.ID, Partition: p.Partition, Leader: leader, ISR: slices.Clone(isr),
		Replicas: slices.Clone(replicas), LeaderEpoch: leaderEpoch, PartitionEpoch: p.PartitionEpoch + 1}
}

// ProducerIDBlockSize is how many producer ids a broker takes at a time.
const ProducerIDBlockSize = 1000

// ProducerIDBlock is the producer ids Start to Start+Len-1.
type ProducerIDBlock struct {
	Start int64
	Len   int32
}

// errProducerIDsExhausted: no block of producer ids is left below
// math.MaxInt64.
var errProducerIDsExhausted = errors.New("producer ids exhausted")

// AllocateProducerIDs hands broker nodeID the next block of producer ids
// (AllocateProducerIds, API 67).
func (c *Controller) AllocateProducerIDs(nodeID int32, brokerEpoch int64) (ProducerIDBlock, []Record, error) {
	b, ok := c.img.Broker(nodeID)
	if !ok || b.BrokerEpoch != brokerEpoch {
		return ProducerIDBlock{}, nil, controllerErr(kerr.StaleBrokerEpoch, "Broker %d with epoch %d is not registered.", nodeID, brokerEpoch)
	}
	start := c.img.NextProducerID()
	if start > math.MaxInt64-ProducerIDBlockSize {
		return ProducerIDBlock{}, nil, controllerErr(kerr.UnknownServerError, "%v", errProducerIDsExhausted)
	}
	next := start + ProducerIDBlockSize
	return ProducerIDBlock{Start: start, Len: ProducerIDBlockSize},
		[]Record{&ProducerIDsRecord{NodeID: nodeID, BrokerEpoch: brokerEpoch, NextBlockStart: next}}, nil
}
