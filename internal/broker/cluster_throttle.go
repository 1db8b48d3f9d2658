package broker

// Kafka's replication quotas (KIP-73), both sides:
//
//   - Follower side (cluster_reassign.go, follow): this broker's fetchers
//     share one replication.Throttle of follower.replication.throttled.
//     rate bytes per second for the partitions it copies throttled.
//   - Leader side (here): this broker, as leader, answers followers'
//     fetches under a second Throttle of leader.replication.throttled.rate
//     bytes per second. Partition p of topic t is leader-throttled here
//     when t's leader.replication.throttled.replicas lists "p:<this node>"
//     or is "*". A follower's fetch reads such a partition normally while
//     the bucket has tokens, at most one second of rate at a time (a batch
//     is never split, so the bucket may go into debt), and is charged for
//     what it sends; while the bucket is in debt the partition answers
//     with its HighWatermark and LogStartOffset but no records, and the
//     follower fetches again. The other partitions of the same fetch, and
//     every consumer's fetch, are never held.
//
// As in Kafka (ReplicaManager's leader throttle), a follower in the
// partition's ISR is never held: holding it would hold acks=all produces
// back, and the quota is for copies catching up (the replicas a
// reassignment adds). Unlike Kafka, which also charges the bytes its
// in-sync followers fetch of a throttled partition, Gregor charges only
// the out-of-sync followers' bytes, so the whole rate goes to the copies
// it is meant for.
//
// Both rates are dynamic broker configs: a change reaches every node with
// the metadata image (followImages → applyReplicationThrottleLocked), and
// the leader side also re-reads its rate when it answers a throttled
// fetch. A topic config change arrives with the image too: the leader
// side reads the lists from the image at each follower fetch, and
// markFollowerThrottlesLocked re-marks the followed partitions.

import (
	"maps"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/gregor-log/gregor/internal/config"
	"github.com/gregor-log/gregor/internal/metadata"
	"github.com/gregor-log/gregor/internal/replication"
)

// replicationQuotas is a broker's state for this file.
type replicationQuotas struct {
	leader *replication.Throttle // leader.replication.throttled.rate
	// followerLists is the topics' follower.replication.throttled.replicas
	// as last applied (markFollowerThrottlesLocked); guarded by controlMu.
	followerLists map[metadata.TopicID]string
}

// leaderThrottle is this broker's leader-side Throttle.
func (b *Broker) leaderThrottle() *replication.Throttle { return b.quotas.leader }

// replicationRate is a replication quota's rate (bytes per second) with
// its dynamic layers (node, cluster default, static); math.MaxInt64: no
// limit.
func (b *Broker) replicationRate(name string) int64 {
	v, _, _, ok := b.cfg.BrokerValue(name)
	if !ok {
		return math.MaxInt64
	}
	rate, err := strconv.ParseInt(v, 10, 64)
	if err != nil || rate < 1 {
		return math.MaxInt64 // validated when set; never throttle to a stop
	}
	return rate
}

// leaderThrottleRate is leader.replication.throttled.rate with its
// dynamic layers.
func (b *Broker) leaderThrottleRate() int64 {
	return b.replicationRate("leader.replication.throttled.rate")
}

// topicThrottledReplicas is the parsed list of topic configs name
// (leader/follower.replication.throttled.replicas); the empty list when
// unset or, for a value that somehow skipped validation, invalid.
func topicThrottledReplicas(mt *metadata.Topic, name string) config.ThrottledReplicas {
	v, ok := mt.Configs[name]
	if !ok || v == "" {
		return config.ThrottledReplicas{}
	}
	list, err := config.ParseThrottledReplicas(v)
	if err != nil {
		return config.ThrottledReplicas{}
	}
	return list
}

// followerThrottled reports whether this broker copies partition mp of
// mt throttled: it is one of mp's AddingReplicas, or mt's follower.
// replication.throttled.replicas lists it.
func followerThrottled(mt *metadata.Topic, mp metadata.Partition, self int32) bool {
	return slices.Contains(mp.AddingReplicas, self) ||
		topicThrottledReplicas(mt, config.FollowerThrottledReplicas).Contains(mp.Partition, self)
}

// markFollowerThrottlesLocked re-marks every partition this broker
// follows when some topic's follower.replication.throttled.replicas
// changed: a topic config change moves no partition's role, so follow is
// not called again for it. (AddingReplicas changes do move the partition
// epoch, and follow marks them.) The caller holds controlMu.
func (b *Broker) markFollowerThrottlesLocked(img *metadata.Image) {
	q := b.quotas
	lists := map[metadata.TopicID]string{}
	for _, mt := range img.Topics() {
		if v := mt.Configs[config.FollowerThrottledReplicas]; v != "" {
			lists[mt.ID] = v
		}
	}
	if maps.Equal(lists, q.followerLists) {
		return
	}
	q.followerLists = lists
	self := b.nodeID()
	for key, r := range b.cluster.roles {
		f, ok := b.cluster.fetchers[r.leader]
		if !ok || r.leader == self {
			continue
		}
		mt, ok := img.TopicByID(key.topic)
		if !ok || int(key.partition) >= len(mt.Partitions) {
			continue
		}
		f.SetThrottled(r.tp, followerThrottled(mt, mt.Partitions[key.partition], self))
	}
}

// replicaFetchQuota is the leader-side quota as one follower fetch sees
// it: which of its partitions are throttled, and the bucket. nil (no
// follower, or a source without quotas) throttles nothing.
type replicaFetchQuota struct {
	bucket   *replication.Throttle
	rate     func() int64 // leader.replication.throttled.rate now
	img      *metadata.Image
	self     int32
	follower int32
	// throttled[i] marks targets[i] of the fetch.
	throttled []bool
	any       bool
	// The last topic's parsed leader list: a fetch names the partitions
	// of a topic together, so each list is parsed about once per fetch.
	lastTopic *metadata.Topic
	lastList  config.ThrottledReplicas
}

// replicaQuotaSource is a partitionSource that applies the leader-side
// replication quota (brokerSource; the tests' fakes do not).
type replicaQuotaSource interface {
	replicaFetchQuota(follower int32, targets int) *replicaFetchQuota
}

func (s brokerSource) replicaFetchQuota(follower int32, targets int) *replicaFetchQuota {
	b := s.b
	if !b.clustered() {
		return nil // no followers
	}
	return &replicaFetchQuota{
		bucket:    b.leaderThrottle(),
		rate:      b.leaderThrottleRate,
		img:       b.store.Image(),
		self:      b.nodeID(),
		follower:  follower,
		throttled: make([]bool, targets),
	}
}

// newReplicaFetchQuota returns the quota of a fetch from follower with
// targets partitions; nil for a consumer's fetch.
func newReplicaFetchQuota(src partitionSource, follower int32, targets int) *replicaFetchQuota {
	qs, ok := src.(replicaQuotaSource)
	if !ok || follower < 0 {
		return nil
	}
	return qs.replicaFetchQuota(follower, targets)
}

// mark records whether targets[i], partition index of topic, is
// leader-throttled for this fetch's follower.
func (q *replicaFetchQuota) mark(i int, topic string, index int32) {
	if q == nil {
		return
	}
	mt, ok := q.img.Topic(topic)
	if !ok || int(index) >= len(mt.Partitions) || int(index) < 0 {
		return
	}
	if slices.Contains(mt.Partitions[index].ISR, q.follower) {
		return // in sync: never held (acks=all waits on it)
	}
	if mt != q.lastTopic {
		q.lastTopic, q.lastList = mt, topicThrottledReplicas(mt, config.LeaderThrottledReplicas)
	}
	if q.lastList.Contains(index, q.self) {
		q.throttled[i], q.any = true, true
	}
}

// leaderQuota is how a follower fetch reads one partition.
type leaderQuota int8

const (
	quotaNone leaderQuota = iota // not throttled
	quotaOpen                    // throttled, tokens left: read at most one second of rate
	quotaHeld                    // throttled, bucket in debt: no records
)

// held starts one read of the fetch: it reports whether throttled
// partitions are held (bucket in debt). The rate is installed first, so a
// lifted throttle takes effect at the next fetch.
func (q *replicaFetchQuota) held() bool {
	if q == nil || !q.any {
		return false
	}
	q.bucket.SetRate(q.rate())
	return q.bucket.Delay(time.Now()) > 0
}

// of is how targets[i] is read when the bucket is (held) in debt.
func (q *replicaFetchQuota) of(i int, held bool) leaderQuota {
	switch {
	case q == nil || !q.throttled[i]:
		return quotaNone
	case held:
		return quotaHeld
	}
	return quotaOpen
}

// maxBytes is what a throttled partition may read at once: one second of
// rate.
func (q *replicaFetchQuota) maxBytes() int64 {
	return int64(q.bucket.MaxBytes(math.MaxInt32))
}

// charge takes from the bucket what the final answer sends of throttled
// partitions. Reads that a long poll discarded are not charged: only the
// answer leaves the broker.
func (q *replicaFetchQuota) charge(results []fetchResult) {
	if q == nil || !q.any {
		return
	}
	var n int64
	for i := range results {
		if q.throttled[i] {
			n += results[i].records.Size
		}
	}
	q.bucket.Charge(int(min(n, math.MaxInt32)), time.Now())
}
