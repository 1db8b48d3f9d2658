package group

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Ticket names a parked request (JoinGroup, SyncGroup); its answer comes
// out of Ready as a Reply with the same Ticket. The caller picks tickets and
// must not reuse one while its request is parked.
type Ticket uint64

// Reply is the answer to a parked request.
type Reply struct {
	Ticket   Ticket
	Response kmsg.Response
}

// Record is one record of __consumer_offsets: Kafka's key and value
// schemas, Value nil for a tombstone.
type Record struct {
	Partition int32
	Key       []byte
	Value     []byte
}

// Ready is what the coordinator produced since the last call to Ready.
type Ready struct {
	// Replies answer parked requests.
	Replies []Reply
	// Records must be appended to __consumer_offsets in this order.
	Records []Record
}

// Client is where a request came from: the request header's client id
// and the connection's remote host, shown by DescribeGroups.
type Client struct {
	ID   string
	Host string
}

// TopicID is a topic's UUID, as KIP-848 requests name topics.
type TopicID = [16]byte

// TopicInfo is what the coordinator needs to know of a topic.
type TopicInfo struct {
	Name       string
	ID         TopicID
	Partitions int32
	// Internal topics (__consumer_offsets) never match a regex subscription.
	Internal bool
}

// partitionLoad is the coordinator's relation to one partition of
// __consumer_offsets.
type partitionLoad int8

const (
	notCoordinator partitionLoad = iota // another node leads it, or not loaded yet
	loading                             // replaying its records
	active                              // its groups are served here
)

// groupKind is the protocol a group speaks. A group becomes the other kind
// only while it has no members.
type groupKind int8

const (
	kindClassic  groupKind = iota // JoinGroup/SyncGroup, or offsets only
	kindConsumer                  // KIP-848 ConsumerGroupHeartbeat
)

func (k groupKind) String() string {
	if k == kindConsumer {
		return "consumer"
	}
	return "classic"
}

// group is one group: its committed offsets and the state of its protocol.
type group struct {
	id        string
	partition int32
	kind      groupKind
	// persisted says a group metadata record for this group is in the log
	// and not yet tombstoned, so dropping the group must write a tombstone.
	persisted bool

	offsets    map[string]map[int32]*offset // topic -> partition -> committed
	numOffsets int

	classic  classicGroup
	consumer *consumerGroup // nil unless kind == kindConsumer
}

// Coordinator is the pure state machine of every group this node
// coordinates. See the package doc for its contract.
type Coordinator struct {
	cfg Config

	groups     map[string]*group
	partitions []partitionLoad // indexed by __consumer_offsets partition
	timers     timerHeap
	ready      Ready

	// topics is the cluster's topics as last given to SetTopics; nil until
	// then, and while nil, commits to any topic are accepted.
	topics     map[string]TopicInfo
	topicsByID map[TopicID]TopicInfo
	// topicsVersion increases with every SetTopics that changed something;
	// regex resolutions are cached per version.
	topicsVersion uint64

	// nextRetentionCheck is when Tick next looks for expired offsets.
	nextRetentionCheck int64
}

// New returns a coordinator that owns no partition yet.
func New(cfg Config) *Coordinator {
	cfg = cfg.withDefaults()
	return &Coordinator{
		cfg:        cfg,
		groups:     make(map[string]*group),
		partitions: make([]partitionLoad, cfg.OffsetsTopicPartitions),
	}
}

// Config returns the configuration in use, defaults applied.
func (c *Coordinator) Config() Config { return c.cfg }

// Ready returns and clears the pending replies and records.
func (c *Coordinator) Ready() Ready {
	r := c.ready
	c.ready = Ready{}
	return r
}

// HasReady reports whether Ready would return anything.
func (c *Coordinator) HasReady() bool {
	return len(c.ready.Replies) > 0 || len(c.ready.Records) > 0
}

// NextDeadline is when Tick next has work, ok false if never.
func (c *Coordinator) NextDeadline() (at int64, ok bool) {
	at, ok = c.timers.next()
	if c.nextRetentionCheck > 0 && (!ok || c.nextRetentionCheck < at) {
		return c.nextRetentionCheck, true
	}
	return at, ok
}

// Tick fires every timer due at now and, every
// offsets.retention.check.interval.ms, expires old offsets.
func (c *Coordinator) Tick(now int64) {
	// Every timer that fires either goes away or is rescheduled strictly
	// after now, so this loop ends; the bound guards that invariant.
	for range 1 << 30 {
		t := c.timers.popDue(now)
		if t == nil {
			break
		}
		t.fire(now)
	}
	if c.nextRetentionCheck == 0 {
		c.nextRetentionCheck = now + c.cfg.OffsetsRetentionCheckIntervalMs
	} else if now >= c.nextRetentionCheck {
		c.expireOffsets(now)
		c.nextRetentionCheck = now + c.cfg.OffsetsRetentionCheckIntervalMs
	}
}

func (c *Coordinator) reply(t Ticket, resp kmsg.Response) {
	c.ready.Replies = append(c.ready.Replies, Reply{Ticket: t, Response: resp})
}

func (c *Coordinator) emit(r Record) { c.ready.Records = append(c.ready.Records, r) }

// partitionOf is the __consumer_offsets partition of a group id.
func (c *Coordinator) partitionOf(id string) int32 {
	return PartitionFor(id, c.cfg.OffsetsTopicPartitions)
}

// coordinatorError is the error for a group whose partition is not active
// here: NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS; 0 when it is.
func (c *Coordinator) coordinatorError(id string) int16 {
	switch c.partitions[c.partitionOf(id)] {
	case loading:
		return kerr.CoordinatorLoadInProgress.Code
	case active:
		return 0
	}
	return kerr.NotCoordinator.Code
}

// Owns reports whether groups of the partition are served here (loaded).
func (c *Coordinator) Owns(partition int32) bool {
	return partition >= 0 && int(partition) < len(c.partitions) && c.partitions[partition] == active
}

// Loading reports whether the partition is being loaded.
func (c *Coordinator) Loading(partition int32) bool {
	return partition >= 0 && int(partition) < len(c.partitions) && c.partitions[partition] == loading
}

// GroupCoordinatorError is FindCoordinator's answer for a group key: 0 when
// this node serves the group, else NOT_COORDINATOR or
// COORDINATOR_LOAD_IN_PROGRESS (Kafka answers FindCoordinator while a
// partition loads, and the group requests then wait; Gregor does the same).
func (c *Coordinator) GroupCoordinatorError(id string) int16 {
	if c.partitions[c.partitionOf(id)] == notCoordinator {
		return kerr.NotCoordinator.Code
	}
	return 0
}

// newGroup creates a group, or returns nil when MaxGroups is reached.
func (c *Coordinator) newGroup(id string, kind groupKind, now int64) *group {
	if len(c.groups) >= c.cfg.MaxGroups {
		return nil
	}
	g := &group{id: id, partition: c.partitionOf(id), kind: kind}
	g.classic.init(c, g, now)
	if kind == kindConsumer {
		g.consumer = newConsumerGroup()
	}
	c.groups[id] = g
	return g
}

// isEmpty reports whether the group has no member of either protocol.
func (g *group) isEmpty() bool {
	if g.kind == kindConsumer {
		return len(g.consumer.members) == 0
	}
	return len(g.classic.members) == 0 && len(g.classic.pending) == 0
}

// maybeDrop removes g when it has no members and no offsets: nothing of it
// would survive, and keeping it would grow memory with every dead group.
func (c *Coordinator) maybeDrop(g *group) {
	if c.groups[g.id] != g || !g.isEmpty() || g.numOffsets > 0 {
		return
	}
	c.dropGroup(g)
}

// dropGroup removes g, stopping its timers, and tombstones its metadata.
func (c *Coordinator) dropGroup(g *group) {
	g.classic.stopTimers(c)
	if g.consumer != nil {
		g.consumer.stopTimers(c)
	}
	if g.persisted {
		c.emit(Record{Partition: g.partition, Key: encodeGroupKey(g.id)})
		g.persisted = false
	}
	delete(c.groups, g.id)
}

// sortedGroupIDs returns the ids of the groups, sorted, for deterministic
// output.
func (c *Coordinator) sortedGroupIDs() []string {
	ids := make([]string, 0, len(c.groups))
	for id := range c.groups {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
