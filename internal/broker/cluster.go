package broker

// A broker in a multi-node cluster (controller.quorum.voters set; issue
// #5, docs/design/replication.md). Nothing here runs on a single node:
// Broker.cluster is nil there and every path below is skipped.
//
// Pieces, each one goroutine at most:
//
//   - The metadata store is a quorum.Node; a follower goroutine reconciles
//     the open partitions with every image the quorum applies. A node not
//     among the voters is a Raft learner that first asks the voters to
//     add it (cluster_learner.go); the Raft port answers such requests.
//   - The node whose quorum is the Raft leader is the active controller:
//     it drives a metadata.Controller (ctlDo), ticking it every heartbeat
//     interval to fence silent brokers, and answers BrokerRegistration,
//     BrokerHeartbeat and AlterPartition (56/62/63) for the others.
//   - Every broker, the controller included, registers with the active
//     controller and heartbeats to it (runHeartbeats). The controller is
//     found as the quorum's leader; its broker endpoint is read from the
//     image (it registers itself in-process first, so it is always there
//     before another broker needs it). Requests go through one franz-go
//     client seeded with this broker's own listener, whose Metadata lists
//     every registered broker.
//   - Roles (applyRoles, called by reconcile): leader == me →
//     BecomeLeader, otherwise BecomeFollower and the Fetcher of that
//     leader.
//   - A leader-side loop (runISRUpdates) sends the partitions' ISR
//     proposals to the controller as one AlterPartition.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gregor-log/gregor/internal/metadata"
	"github.com/gregor-log/gregor/internal/partition"
	"github.com/gregor-log/gregor/internal/quorum"
	"github.com/gregor-log/gregor/internal/replication"
	"github.com/gregor-log/gregor/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// clusterState is a clustered broker's replication state.
type clusterState struct {
	quorum      *quorum.Node
	raftMux     *raftMux // the Raft listener, answering joins (cluster_learner.go)
	incarnation metadata.IncarnationID
	// brokerEpoch is this broker's registration (0: not registered).
	brokerEpoch atomic.Int64
	// shuttingDown makes heartbeats ask for a controlled shutdown.
	shuttingDown atomic.Bool
	// producerIDs is the block of producer ids the controller gave this
	// broker (67_allocate_producer_ids.go).
	producerIDs producerIDBlock

	// ctl is the active controller's state machine, nil while this node
	// is not the Raft leader. term is the Raft term it was made in: a new
	// term is a new active controller (liveness restarts).
	ctl struct {
		sync.Mutex
		c    *metadata.Controller
		term uint64
	}

	// client reaches the other brokers (controller requests and the
	// fetchers); set by Start, nil before.
	client atomic.Pointer[kgo.Client]

	// roles is what applyRoles last applied per partition and the
	// fetcher of each leader followed. Guarded by controlMu (reconcile's
	// lock); bounded by the partitions and brokers of the image.
	roles    map[partitionKey]appliedRole
	fetchers map[int32]*replication.Fetcher
	// throttle limits the copies of the replicas this broker is adding
	// in a reassignment (cluster_reassign.go); guarded by controlMu.
	throttle *replication.Throttle
}

// partitionKey names a partition of a topic by id.
type partitionKey struct {
	topic     metadata.TopicID
	partition int32
}

// appliedRole is the image's partition state as last applied.
type appliedRole struct {
	p              *partition.Partition
	tp             replication.TopicPartition
	leader         int32
	leaderEpoch    int32
	partitionEpoch int32
	replicas       []int32 // the image's, to see a reassignment's change
	ready          bool    // this broker could lead (selfReady) when applied
}

// raftDirName is the quorum's directory inside the metadata directory.
const raftDirName = "raft"

// clustered reports whether this broker is part of a multi-node cluster.
func (b *Broker) clustered() bool { return b.cluster != nil }

// openQuorum opens the Raft metadata quorum as the broker's store.
func (b *Broker) openQuorum(dir string) (metadata.Store, error) {
	voters, err := b.cfg.Voters()
	if err != nil {
		return nil, err
	}
	// The Raft port also answers brokers asking to join (cluster_learner.go).
	mux, err := b.listenController()
	if err != nil {
		return nil, err
	}
	node, err := quorum.Open(quorum.Config{
		NodeID:   b.cfg.NodeID,
		Voters:   voters,
		Listener: mux,
		Dir:      filepath.Join(dir, metadataDirName, raftDirName),
		Logger:   b.log.With("component", "quorum"),
		Dial:     b.dial,
	})
	if err != nil {
		mux.Close()
		return nil, fmt.Errorf("broker: metadata quorum: %w", err)
	}
	mux.node.Store(node)
	cs := &clusterState{quorum: node, raftMux: mux, roles: map[partitionKey]appliedRole{}, fetchers: map[int32]*replication.Fetcher{}}
	for cs.incarnation == (metadata.IncarnationID{}) {
		rand.Read(cs.incarnation[:])
	}
	b.cluster = cs
	return node, nil
}

// controllerID is the active controller as clients are told: this node
// on a single node, the quorum's leader (-1: none yet) in a cluster.
func (b *Broker) controllerID() int32 {
	if !b.clustered() {
		return b.nodeID()
	}
	return b.cluster.quorum.Leader()
}

// startCluster starts the clustered broker's goroutines once its
// listeners are bound (the franz-go client is seeded with them).
func (b *Broker) startCluster(advertised []metadata.Endpoint) error {
	seeds := make([]string, 0, len(advertised))
	for _, e := range advertised {
		seeds = append(seeds, e.Host+":"+strconv.Itoa(int(e.Port)))
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.ClientID(interBrokerClientPrefix + strconv.Itoa(int(b.nodeID()))),
		kgo.MetadataMinAge(100 * time.Millisecond),
		kgo.RetryTimeout(5 * time.Second),
	}
	if b.dial != nil {
		opts = append(opts, kgo.Dialer(b.dial))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("broker: inter-broker client: %w", err)
	}
	b.cluster.client.Store(cl)
	b.controlMu.Lock()
	b.applyRoles(b.store.Image(), b.currentRegistry())
	b.controlMu.Unlock()
	b.background.Go(func() { b.followImages(b.stop) })
	b.background.Go(func() { b.runController(b.stop) })
	b.background.Go(func() { b.runRebalance(b.stop) }) // cluster_rebalance.go
	b.background.Go(func() { b.runHeartbeats(b.stop, advertised) })
	b.background.Go(func() { b.runISRUpdates(b.stop) })
	b.startJoining(b.cluster.raftMux) // a learner asks to join the quorum
	return nil
}

// closeCluster stops the fetchers and the client; the goroutines are
// already stopped (Close waited for b.background).
func (b *Broker) closeCluster() {
	if !b.clustered() {
		return
	}
	b.controlMu.Lock()
	for id, f := range b.cluster.fetchers {
		f.Close()
		delete(b.cluster.fetchers, id)
	}
	b.controlMu.Unlock()
	if cl := b.cluster.client.Load(); cl != nil {
		cl.Close()
	}
}

// followImages reconciles the open partitions with each image the quorum
// applies (records written by any node).
func (b *Broker) followImages(stop <-chan struct{}) {
	for {
		changed := b.store.Changed()
		b.controlMu.Lock()
		b.reconcile(b.store.Image())
		// Dynamic broker configs another node recorded (configs.go).
		b.applyDynamicBrokerConfigsLocked()
		b.applyReplicationThrottleLocked() // cluster_reassign.go
		b.controlMu.Unlock()
		select {
		case <-stop:
			return
		case <-changed:
		}
	}
}

// heartbeatInterval is broker.heartbeat.interval.ms.
func (b *Broker) heartbeatInterval() time.Duration {
	return msDuration(b.cfg.BrokerHeartbeatIntervalMs)
}

// errNotController: this node is not the active controller.
var errNotController = errors.New("broker: not the active controller")

// ctlDo runs one controller decision as metadata.Controller's contract
// says: decide against the current image, append the records as one
// batch, give the controller the new image. It fails with
// errNotController unless this node is the Raft leader.
func (b *Broker) ctlDo(fn func(c *metadata.Controller, now time.Time) ([]metadata.Record, error)) error {
	cs := b.cluster
	cs.ctl.Lock()
	defer cs.ctl.Unlock()
	st := cs.quorum.Status()
	if st.Leader != b.nodeID() {
		cs.ctl.c = nil
		return fmt.Errorf("%w: the controller is %d", errNotController, st.Leader)
	}
	now := time.Now()
	if cs.ctl.c == nil || cs.ctl.term != st.Term {
		c, err := metadata.NewController(b.store.Image(), b.controllerConfig())
		if err != nil {
			return err
		}
		c.NewActiveController(now)
		cs.ctl.c, cs.ctl.term = c, st.Term
		b.log.Info("this node is the active controller", "term", st.Term)
	}
	c := cs.ctl.c
	c.SetImage(b.store.Image())
	records, err := fn(c, now)
	if err != nil || len(records) == 0 {
		return err
	}
	err = b.store.Append(records...)
	c.SetImage(b.store.Image())
	if err != nil {
		return b.appendFailed(err)
	}
	return nil
}

// appendFailed maps a failed metadata append: another node became the
// controller (NOT_CONTROLLER), or anything else.
func (b *Broker) appendFailed(err error) error {
	var nl *quorum.NotLeaderError
	if errors.As(err, &nl) {
		return fmt.Errorf("%w: %v", errNotController, err)
	}
	return err
}

// metadataAppendError is the API error of a failed metadata append: a
// request that changes metadata sent to a node that is not the active
// controller gets NOT_CONTROLLER, and the client retries at the one
// Metadata names.
func (b *Broker) metadataAppendError(err error) *apiError {
	var nl *quorum.NotLeaderError
	if errors.As(err, &nl) || errors.Is(err, errNotController) {
		return errorf(kerr.NotController, "This node is not the active controller (the controller is %d).", b.controllerID())
	}
	return errorf(kerr.UnknownServerError, "metadata log: %v", err)
}

// controllerConfig is the controller's configuration from the broker's.
func (b *Broker) controllerConfig() metadata.ControllerConfig {
	var seed [8]byte
	rand.Read(seed[:])
	var s uint64
	for _, x := range seed {
		s = s<<8 | uint64(x)
	}
	return metadata.ControllerConfig{
		SessionTimeout:           msDuration(b.cfg.BrokerSessionTimeoutMs),
		HeartbeatInterval:        b.heartbeatInterval(),
		MinInsyncReplicas:        int16(max(1, min(b.cfg.MinInsyncReplicas, 1<<15-1))),
		UncleanLeaderElection:    b.cfg.UncleanLeaderElectionEnable,
		DefaultNumPartitions:     b.cfg.NumPartitions,
		DefaultReplicationFactor: b.cfg.DefaultReplicationFactor,
		Seed:                     s,
	}
}

// runController ticks the controller while this node is the active one:
// it fences brokers whose session expired. The first tick as leader
// also gives a new cluster its id.
func (b *Broker) runController(stop <-chan struct{}) {
	t := time.NewTicker(min(b.heartbeatInterval(), time.Second))
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if !b.cluster.quorum.IsLeader() {
			continue
		}
		err := b.ctlDo(func(c *metadata.Controller, now time.Time) ([]metadata.Record, error) {
			if c.Image().ClusterID == "" {
				return []metadata.Record{&metadata.ClusterRecord{ClusterID: metadata.NewClusterID()}}, nil
			}
			return c.Tick(now), nil
		})
		if err != nil && !errors.Is(err, errNotController) {
			b.log.Warn("controller tick failed", "err", err)
		}
	}
}

// runHeartbeats registers this broker with the active controller and
// heartbeats to it, re-registering when the controller no longer knows
// this registration. A fenced broker heartbeats faster, to be unfenced
// as soon as it has caught up.
func (b *Broker) runHeartbeats(stop <-chan struct{}, advertised []metadata.Endpoint) {
	const fastInterval = 100 * time.Millisecond
	wait := time.Duration(0)
	for {
		select {
		case <-stop:
			return
		case <-time.After(wait):
		}
		wait = b.heartbeatInterval()
		ctx, cancel := context.WithTimeout(context.Background(), max(b.heartbeatInterval(), time.Second))
		var err error
		if b.cluster.brokerEpoch.Load() == 0 {
			err = b.register(ctx, advertised)
			wait = fastInterval
		} else {
			var fenced bool
			fenced, err = b.heartbeat(ctx)
			if fenced || b.cluster.shuttingDown.Load() {
				wait = min(wait, fastInterval)
			}
		}
		cancel()
		if err != nil {
			wait = min(wait, fastInterval*5)
			b.log.Debug("controller heartbeat failed", "err", err)
		}
	}
}

// register sends this broker's registration to the active controller.
func (b *Broker) register(ctx context.Context, advertised []metadata.Endpoint) error {
	reg := metadata.BrokerRegistration{
		NodeID: b.nodeID(), ClusterID: b.store.Image().ClusterID, Incarnation: b.cluster.incarnation,
		Rack: b.cfg.BrokerRack, Endpoints: advertised,
	}
	var epoch int64
	if b.cluster.quorum.IsLeader() {
		err := b.ctlDo(func(c *metadata.Controller, now time.Time) ([]metadata.Record, error) {
			recs, e, err := c.RegisterBroker(now, reg)
			epoch = e
			return recs, err
		})
		if err != nil {
			return err
		}
	} else {
		req := kmsg.NewPtrBrokerRegistrationRequest()
		req.BrokerID, req.ClusterID, req.IncarnationID = reg.NodeID, reg.ClusterID, reg.Incarnation
		if reg.Rack != "" {
			req.Rack = &reg.Rack
		}
		for _, e := range advertised {
			l := kmsg.NewBrokerRegistrationRequestListener()
			l.Name, l.Host, l.Port, l.SecurityProtocol = e.Name, e.Host, uint16(e.Port), 0
			req.Listeners = append(req.Listeners, l)
		}
		resp, err := controllerRequest[*kmsg.BrokerRegistrationResponse](ctx, b, req)
		if err != nil {
			return err
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			return fmt.Errorf("broker registration: %w", err)
		}
		epoch = resp.BrokerEpoch
	}
	b.cluster.brokerEpoch.Store(epoch)
	b.log.Info("registered with the controller", "broker_epoch", epoch)
	return nil
}

// heartbeat sends one heartbeat and reports whether this broker is still
// fenced. A controller that no longer knows the registration makes the
// next round register again.
func (b *Broker) heartbeat(ctx context.Context) (bool, error) {
	hb := metadata.BrokerHeartbeat{NodeID: b.nodeID(), BrokerEpoch: b.cluster.brokerEpoch.Load(),
		CurrentMetadataOffset: b.store.Image().Offset, WantShutDown: b.cluster.shuttingDown.Load()}
	var res metadata.BrokerHeartbeatResult
	var err error
	if b.cluster.quorum.IsLeader() {
		err = b.ctlDo(func(c *metadata.Controller, now time.Time) ([]metadata.Record, error) {
			r, recs, err := c.Heartbeat(now, hb)
			res = r
			return recs, err
		})
	} else {
		req := kmsg.NewPtrBrokerHeartbeatRequest()
		req.BrokerID, req.BrokerEpoch, req.CurrentMetadataOffset = hb.NodeID, hb.BrokerEpoch, hb.CurrentMetadataOffset
		req.WantShutdown = hb.WantShutDown
		var resp *kmsg.BrokerHeartbeatResponse
		resp, err = controllerRequest[*kmsg.BrokerHeartbeatResponse](ctx, b, req)
		if err == nil {
			err = kerr.ErrorForCode(resp.ErrorCode)
			res = metadata.BrokerHeartbeatResult{IsCaughtUp: resp.IsCaughtUp, IsFenced: resp.IsFenced, ShouldShutDown: resp.ShouldShutdown}
		}
	}
	if errors.Is(err, kerr.StaleBrokerEpoch) || errors.Is(err, kerr.BrokerIDNotRegistered) {
		b.cluster.brokerEpoch.Store(0)
	}
	return res.IsFenced, err
}

// controllerRequest sends req to the active controller's broker listener.
func controllerRequest[R kmsg.Response](ctx context.Context, b *Broker, req kmsg.Request) (R, error) {
	var zero R
	cl := b.cluster.client.Load()
	ctl := b.cluster.quorum.Leader()
	if cl == nil || ctl < 0 {
		return zero, fmt.Errorf("%w: no active controller yet", errNotController)
	}
	resp, err := cl.Broker(int(ctl)).Request(ctx, req)
	if err != nil {
		return zero, err
	}
	r, ok := resp.(R)
	if !ok {
		return zero, fmt.Errorf("broker: controller answered with %T", resp)
	}
	return r, nil
}

// applyRoles makes every open partition play the role the image gives
// it. The caller holds controlMu (reconcile). Before Start (no client to
// fetch with) it does nothing; Start applies the roles once bound.
func (b *Broker) applyRoles(img *metadata.Image, reg *registry) {
	cs := b.cluster
	if cs == nil || cs.client.Load() == nil {
		return
	}
	self := b.nodeID()
	ready := b.selfReady(img)
	seen := map[partitionKey]bool{}
	for _, t := range img.Topics() {
		ts, ok := reg.byID[t.ID]
		if !ok {
			continue
		}
		for _, mp := range t.Partitions {
			if int(mp.Partition) >= len(ts.partitions) || ts.partitions[mp.Partition].p == nil {
				continue
			}
			p := ts.partitions[mp.Partition].p
			key := partitionKey{t.ID, mp.Partition}
			seen[key] = true
			prev, had := cs.roles[key]
			if had && prev.p == p && prev.leader == mp.Leader && prev.leaderEpoch == mp.LeaderEpoch && prev.partitionEpoch == mp.PartitionEpoch && prev.ready == ready {
				continue
			}
			tp := replication.TopicPartition{Topic: t.Name, TopicID: t.ID, Partition: mp.Partition}
			if !had || prev.p != p {
				p.SetLocalReplicaID(self)
			}
			if mp.Leader == self && !ready {
				// An image from before this process registered: it may be
				// stale, and the controller takes these leaderships away
				// when it registers the restart. Lead nothing until then.
				mp.Leader = metadata.NoLeader
			}
			if err := b.applyRole(p, tp, mp, prev, had && prev.p == p); err != nil {
				b.log.Warn("applying a partition's role", "topic", t.Name, "partition", mp.Partition, "err", err)
			}
			cs.roles[key] = appliedRole{p: p, tp: tp, leader: mp.Leader, leaderEpoch: mp.LeaderEpoch, partitionEpoch: mp.PartitionEpoch,
				replicas: mp.Replicas, ready: ready}
		}
	}
	for key, r := range cs.roles {
		if !seen[key] {
			b.stopFollowing(r.leader, r.tp)
			delete(cs.roles, key)
		}
	}
	// The group coordinator follows __consumer_offsets leadership.
	b.groupFollowLeadersLocked(reg)
	for id, f := range cs.fetchers {
		if f.Len() == 0 {
			f.Close()
			delete(cs.fetchers, id)
		}
	}
}

// selfReady reports whether img shows this process registered and
// unfenced: only then may it act on the leaderships the image gives it.
func (b *Broker) selfReady(img *metadata.Image) bool {
	br, ok := img.Broker(b.nodeID())
	return ok && !br.Fenced && br.Incarnation == b.cluster.incarnation
}

// applyRole moves one partition to the role mp gives it. The fetcher is
// told first when leading (so it no longer appends), last when following
// (the partition must be a follower at that epoch before it fetches).
func (b *Broker) applyRole(p *partition.Partition, tp replication.TopicPartition, mp metadata.Partition, prev appliedRole, had bool) error {
	self := b.nodeID()
	if had && prev.leader != self && prev.leader != mp.Leader {
		b.stopFollowing(prev.leader, tp)
	}
	if mp.Leader == self {
		// At the same epoch BecomeLeader refreshes the replica set (a
		// reassignment): the adding replicas may fetch.
		if !had || prev.leader != self || prev.leaderEpoch != mp.LeaderEpoch || !slices.Equal(prev.replicas, mp.Replicas) {
			if err := p.BecomeLeader(mp.LeaderEpoch, mp.Replicas, mp.ISR); err != nil {
				return err
			}
		}
		if err := p.ApplyISR(mp.ISR, mp.PartitionEpoch); err != nil && !errors.Is(err, partition.ErrStaleLeaderEpoch) {
			return err
		}
		return nil
	}
	if err := p.BecomeFollower(mp.LeaderEpoch, mp.Leader); err != nil {
		return err
	}
	if mp.Leader < 0 || !slices.Contains(mp.Replicas, self) {
		return nil // no leader to copy from, or not a replica here
	}
	b.follow(tp, p, mp) // cluster_reassign.go: throttled while adding
	return nil
}

// stopFollowing removes a partition from the fetcher of leader, if any.
func (b *Broker) stopFollowing(leader int32, tp replication.TopicPartition) {
	if f, ok := b.cluster.fetchers[leader]; ok {
		f.Remove(tp)
	}
}

// fetcher returns the Fetcher copying from leader, starting it if needed.
func (b *Broker) fetcher(leader int32) *replication.Fetcher {
	cs := b.cluster
	if f, ok := cs.fetchers[leader]; ok {
		return f
	}
	f := replication.New(replication.Config{
		ReplicaID:         b.nodeID(),
		MinBytes:          b.cfg.ReplicaFetchMinBytes,
		MaxWait:           time.Duration(b.cfg.ReplicaFetchWaitMaxMs) * time.Millisecond,
		PartitionMaxBytes: b.cfg.ReplicaFetchMaxBytes,
		ResponseMaxBytes:  b.cfg.ReplicaFetchResponseMaxBytes,
		Backoff:           time.Duration(b.cfg.ReplicaFetchBackoffMs) * time.Millisecond,
		Throttle:          b.replicationThrottle(),
		Logger:            b.log.With("component", "fetcher", "leader", leader),
	}, replication.NewKgoClient(cs.client.Load(), leader))
	cs.fetchers[leader] = f
	return f
}

// clusterAPIs are the APIs only a cluster serves (BrokerRegistration,
// BrokerHeartbeat, AlterPartition): a single node neither advertises nor
// answers them.
var clusterAPIs = map[int16]api{}

func registerClusterAPI(key kmsg.Key, minVersion, maxVersion int16, fn handlerFunc) {
	if _, dup := clusterAPIs[int16(key)]; dup {
		panic("broker: cluster API registered twice: " + key.Name())
	}
	clusterAPIs[int16(key)] = api{key: int16(key), minVersion: minVersion, maxVersion: maxVersion, handle: fn}
}

// lookupAPI finds the handler of key: every node's APIs, then, in a
// cluster, the cluster's.
func (b *Broker) lookupAPI(key int16) (api, bool) {
	if a, ok := apis[key]; ok {
		return a, true
	}
	if b.clustered() {
		a, ok := clusterAPIs[key]
		return a, ok
	}
	return api{}, false
}

// advertisedAPIs lists the APIs this node serves, for ApiVersions.
func (b *Broker) advertisedAPIs() []wire.APIRange {
	out := apiRanges()
	if !b.clustered() {
		return out
	}
	for _, a := range clusterAPIs {
		out = append(out, wire.APIRange{Key: a.key, MinVersion: a.minVersion, MaxVersion: a.maxVersion})
	}
	slices.SortFunc(out, func(a, b wire.APIRange) int { return int(a.Key) - int(b.Key) })
	return out
}

// forgetReplica stops following a partition about to be deleted, so the
// fetcher no longer touches its log. The caller holds controlMu.
func (b *Broker) forgetReplica(topic metadata.TopicID, index int32) {
	if !b.clustered() {
		return
	}
	key := partitionKey{topic, index}
	if r, ok := b.cluster.roles[key]; ok {
		b.stopFollowing(r.leader, r.tp)
		delete(b.cluster.roles, key)
	}
}

// placementIDs are the brokers new replicas may go to: every registered
// broker on a single node (itself), the unfenced ones in a cluster (a
// fenced broker is down or has not caught up).
func (b *Broker) placementIDs(img *metadata.Image) []int32 {
	var ids []int32
	for _, br := range img.Brokers() {
		if b.clustered() && br.Fenced {
			continue
		}
		ids = append(ids, br.NodeID)
	}
	return ids
}

// placeableBrokers is how many brokers a replication factor may reach.
func (b *Broker) placeableBrokers(img *metadata.Image) int16 {
	n := len(b.placementIDs(img))
	if n == 0 && !b.clustered() {
		n = 1 // this broker, before it registered
	}
	return int16(min(n, 1<<15-1))
}

// MetadataImage is the metadata image this broker currently follows
// (tests and tools read leaders, ISRs and broker fencing from it).
func (b *Broker) MetadataImage() *metadata.Image { return b.store.Image() }

// controlledShutdown asks the controller, through the heartbeats, to move
// this broker's leaderships to other ISR members and fence it, and waits
// until the image shows it fenced (bounded by broker.session.timeout.ms,
// after which the controller would fence it anyway). Clients then find
// the new leaders at once instead of after a session timeout. Close calls
// it while the listeners still serve, so followers can fetch the tail.
func (b *Broker) controlledShutdown() {
	if !b.clustered() || !b.cfg.ControlledShutdownEnable || b.cluster.brokerEpoch.Load() == 0 {
		return
	}
	b.cluster.shuttingDown.Store(true)
	deadline := time.Now().Add(msDuration(b.cfg.BrokerSessionTimeoutMs))
	for {
		changed := b.store.Changed()
		if br, ok := b.store.Image().Broker(b.nodeID()); !ok || br.Fenced {
			b.log.Info("controlled shutdown: leaderships handed over")
			return
		}
		if b.cluster.quorum.Leader() < 0 {
			// No controller (the quorum lost its majority): nobody can
			// take the leaderships over.
			b.log.Warn("controlled shutdown: no active controller; closing anyway")
			return
		}
		if time.Now().After(deadline) {
			b.log.Warn("controlled shutdown timed out; closing anyway")
			return
		}
		select {
		case <-changed:
		case <-time.After(50 * time.Millisecond): // to see the controller go
		}
	}
}

// errNotHostedHere: in a cluster, a partition with no replica on this
// broker; it is not opened here, and requests for it are answered
// NOT_LEADER_OR_FOLLOWER (the registry wraps it in partition.ErrNotLeader).
var errNotHostedHere = errors.New("broker: no replica of this partition on this broker")

// hostsReplica reports whether this broker keeps a replica of p: always
// on a single node, when it is one of p's replicas in a cluster.
func (b *Broker) hostsReplica(p metadata.Partition) bool {
	return !b.clustered() || slices.Contains(p.Replicas, b.nodeID())
}
