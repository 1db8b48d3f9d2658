package broker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"sync"
	"sync/atomic"

	"github.com/gregor-log/gregor/internal/group"
	"github.com/gregor-log/gregor/internal/partition"
	"github.com/gregor-log/gregor/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
)

// groupState is owned by the group coordinator: consumer groups and their
// committed offsets (internal/group), kept in __consumer_offsets. The
// coordinator starts on first use: the first group request creates the
// topic if needed and loads it in the background.
type groupState struct {
	mu      sync.Mutex
	service *group.Service
	// running is service once it follows leaderships (cluster mode):
	// applyRoles reads it without mu, which groupCoordinator holds while
	// it creates the topic (and so may wait for controlMu).
	running atomic.Pointer[group.Service]

	topicsMu      sync.Mutex
	lastRegistry  *registry
	topicsVersion uint64
}

func (b *Broker) groupStateRef() *groupState { return &b.groupState }

// closeGroupCoordinator stops the coordinator, if it ever started; Close
// calls it before closing the partitions it writes to.
func (b *Broker) closeGroupCoordinator() {
	gs := b.groupStateRef()
	gs.mu.Lock()
	svc := gs.service
	gs.mu.Unlock()
	if svc != nil {
		svc.Close()
	}
}

// offsetsTopicConfigs are the configs __consumer_offsets is created with,
// as Kafka creates it: compacted (only the last commit of each key
// matters), with 100 MiB segments (offsets.topic.segment.bytes).
var offsetsTopicConfigs = map[string]string{
	"cleanup.policy":   "compact",
	"segment.bytes":    "104857600",
	"compression.type": "producer",
}

// groupCoordinator returns the running coordinator, starting it on first
// use. The code is COORDINATOR_NOT_AVAILABLE when it cannot run (the
// broker is closing, or __consumer_offsets cannot be created).
func (b *Broker) groupCoordinator() (*group.Service, int16) {
	gs := b.groupStateRef()
	gs.mu.Lock()
	defer gs.mu.Unlock()
	if gs.service != nil {
		return gs.service, 0
	}
	if b.groupBrokerClosed() {
		return nil, kerr.CoordinatorNotAvailable.Code
	}
	n, err := b.groupEnsureOffsetsTopic()
	if err != nil {
		b.log.Error("group coordinator: cannot create __consumer_offsets", "err", err)
		return nil, kerr.CoordinatorNotAvailable.Code
	}
	svc := group.NewService(group.Options{
		Config: b.groupConfig(n),
		Log: func(p int32) (group.OffsetsLog, error) {
			return offsetsLog{b: b, index: p}, nil
		},
		TopicsVersion: func() uint64 { return gs.version(b) },
		Topics:        b.groupTopics,
		Logger:        b.log.With("component", "group-coordinator"),
	})
	gs.service = svc
	if !b.clustered() {
		svc.Start()
		return svc, 0
	}
	// In a cluster a node serves only the partitions it leads: Run loads
	// nothing, and applyRoles loads and unloads as leaderships move.
	svc.Run()
	b.controlMu.Lock()
	gs.running.Store(svc)
	b.groupFollowLeadersLocked(b.currentRegistry())
	b.controlMu.Unlock()
	return svc, 0
}

// groupFollowLeadersLocked makes the coordinator serve exactly the
// partitions of __consumer_offsets this node leads, as applyRoles last
// applied them: a new leader replays the partition, a former one drops
// its groups (their clients get NOT_COORDINATOR and look again). The
// caller holds controlMu.
func (b *Broker) groupFollowLeadersLocked(reg *registry) {
	svc := b.groupStateRef().running.Load()
	if svc == nil || b.cluster == nil {
		return
	}
	t, ok := reg.byName[consumerOffsetsTopic]
	if !ok {
		return
	}
	self := b.nodeID()
	for i := range t.partitions {
		r, ok := b.cluster.roles[partitionKey{t.id, int32(i)}]
		if ok && r.leader == self && r.p != nil && r.p.IsLeader() {
			svc.Load(int32(i))
		} else {
			svc.Unload(int32(i))
		}
	}
}

func (b *Broker) groupBrokerClosed() bool {
	b.lifecycle.Lock()
	defer b.lifecycle.Unlock()
	return b.lifecycle.closed
}

// groupEnsureOffsetsTopic creates __consumer_offsets when it does not
// exist, and returns its partition count: the count of the existing topic
// wins over offsets.topic.num.partitions, or groups would move.
func (b *Broker) groupEnsureOffsetsTopic() (int32, error) {
	if t, ok := b.currentRegistry().byName[consumerOffsetsTopic]; ok {
		return int32(len(t.partitions)), nil
	}
	configs := make(map[string]*string, len(offsetsTopicConfigs))
	for k, v := range offsetsTopicConfigs {
		configs[k] = &v
	}
	_, errs := b.createTopics([]topicSpec{{
		name:              consumerOffsetsTopic,
		numPartitions:     b.cfg.OffsetsTopicNumPartitions,
		replicationFactor: b.offsetsTopicReplicationFactor(),
		configs:           configs,
	}}, false)
	if err := errs[0]; err != nil && err.err != kerr.TopicAlreadyExists {
		return 0, fmt.Errorf("%s", err.msg)
	}
	t, ok := b.currentRegistry().byName[consumerOffsetsTopic]
	if !ok {
		return 0, errors.New("created but not in the registry")
	}
	b.log.Info("created __consumer_offsets", "partitions", len(t.partitions))
	return int32(len(t.partitions)), nil
}

// offsetsTopicReplicationFactor is offsets.topic.replication.factor when
// set. Unset, a single node uses 1 and a cluster Kafka's 3, capped at the
// number of configured voters (the cluster's intended size, not the
// brokers alive right now: a cluster still starting must not create the
// topic with fewer replicas for good).
func (b *Broker) offsetsTopicReplicationFactor() int16 {
	if b.cfg.IsSet("offsets.topic.replication.factor") || !b.cfg.Clustered() {
		return b.cfg.OffsetsTopicReplicationFactor
	}
	return int16(min(3, len(b.cfg.ControllerQuorumVoters)))
}

// groupConfig maps the broker's configs to the coordinator's.
func (b *Broker) groupConfig(partitions int32) group.Config {
	c := group.DefaultConfig()
	c.OffsetsTopicPartitions = partitions
	c.GroupMinSessionTimeoutMs = b.cfg.GroupMinSessionTimeoutMs
	c.GroupMaxSessionTimeoutMs = b.cfg.GroupMaxSessionTimeoutMs
	c.GroupInitialRebalanceDelayMs = b.cfg.GroupInitialRebalanceDelayMs
	if c.GroupInitialRebalanceDelayMs == 0 {
		c.GroupInitialRebalanceDelayMs = -1 // Kafka's 0 is "no delay"; group.Config's 0 is "default"
	}
	// Kafka's default group.max.size (MaxInt32) means unbounded; Gregor
	// keeps its own bound then (group.DefaultConfig).
	if b.cfg.GroupMaxSize > 0 && b.cfg.GroupMaxSize < math.MaxInt32 {
		c.GroupMaxSize = int(b.cfg.GroupMaxSize)
	}
	if b.cfg.OffsetsRetentionMinutes > 0 {
		c.OffsetsRetentionMs = int64(b.cfg.OffsetsRetentionMinutes) * 60_000
	}
	c.OffsetsRetentionCheckIntervalMs = b.cfg.OffsetsRetentionCheckIntervalMs
	c.OffsetMetadataMaxBytes = int(b.cfg.OffsetMetadataMaxBytes)
	c.ConsumerSessionTimeoutMs = b.cfg.GroupConsumerSessionTimeoutMs
	c.ConsumerHeartbeatIntervalMs = b.cfg.GroupConsumerHeartbeatIntervalMs
	c.ConsumerAssignors = b.cfg.GroupConsumerAssignors
	return c
}

// version counts registry changes: the coordinator rereads the topics
// only when it moved. A registry without __consumer_offsets is not a view
// of the cluster (the broker is closing, or has not opened its topics):
// it is ignored, lest the coordinator take every topic for deleted and
// drop their offsets.
func (gs *groupState) version(b *Broker) uint64 {
	r := b.registry.Load()
	gs.topicsMu.Lock()
	defer gs.topicsMu.Unlock()
	if r == nil || r.byName[consumerOffsetsTopic] == nil {
		return gs.topicsVersion
	}
	if r != gs.lastRegistry {
		gs.lastRegistry = r
		gs.topicsVersion++
	}
	return gs.topicsVersion
}

func (b *Broker) groupTopics() []group.TopicInfo {
	b.groupStateRef().topicsMu.Lock()
	r := b.groupStateRef().lastRegistry
	b.groupStateRef().topicsMu.Unlock()
	if r == nil {
		r = b.currentRegistry()
	}
	out := make([]group.TopicInfo, 0, len(r.byName))
	for name, t := range r.byName {
		out = append(out, group.TopicInfo{
			Name:       name,
			ID:         [16]byte(t.id),
			Partitions: int32(len(t.partitions)),
			Internal:   isInternalTopic(name),
		})
	}
	return out
}

// groupClient is the request's client as DescribeGroups shows it: the
// client id and the remote host, written as Kafka writes it ("/1.2.3.4").
func groupClient(req *wire.Request) group.Client {
	var cl group.Client
	if req.ClientID != nil {
		cl.ID = *req.ClientID
	}
	if req.Remote != nil {
		host, _, err := net.SplitHostPort(req.Remote.String())
		if err != nil {
			host = req.Remote.String()
		}
		cl.Host = "/" + host
	}
	return cl
}

// offsetsLog is one partition of __consumer_offsets for the coordinator.
type offsetsLog struct {
	b     *Broker
	index int32
}

func (l offsetsLog) partition() (*partition.Partition, error) {
	return l.b.partition(consumerOffsetsTopic, l.index)
}

func (l offsetsLog) Append(ctx context.Context, batches []byte) error {
	p, err := l.partition()
	if err != nil {
		return err
	}
	_, err = p.Produce(ctx, batches, -1)
	return err
}

func (l offsetsLog) ReadBatches(offset int64, maxBytes int32) ([]byte, error) {
	p, err := l.partition()
	if err != nil {
		return nil, err
	}
	// Compaction or retention may have moved the start past 0.
	offset = max(offset, p.LogStartOffset())
	sl, err := p.Read(offset, maxBytes, l.end(p))
	if err != nil || sl.Size == 0 {
		return nil, err
	}
	buf := make([]byte, sl.Size)
	if _, err := sl.File.ReadAt(buf, sl.Pos); err != nil {
		return nil, err
	}
	return buf, nil
}

func (l offsetsLog) HighWatermark() int64 {
	p, err := l.partition()
	if err != nil {
		return 0
	}
	return l.end(p)
}

// end is where a load stops. In a cluster it is the log end: a new
// leader's high watermark may lag the commits its followers acknowledged
// (it moves once the ISR fetches again), and a leader never truncates its
// own log, so everything up to the log end becomes committed — Kafka's
// coordinator loads to the log end too. On a single node the two are the
// same once appends are durable; the high watermark stays the bound.
func (l offsetsLog) end(p *partition.Partition) int64 {
	if l.b.clustered() {
		return p.LogEndOffset()
	}
	return p.HighWatermark()
}
