package broker

// The broker's side of partition reassignments (KIP-455; the decisions are
// metadata.Controller's, controller_reassign.go):
//
//   - A broker the image newly lists in a partition's replicas opens the
//     partition and follows its leader (reconcile → moveReplicas, then
//     applyRoles); one the image no longer lists stops following it and
//     deletes its replica, as a topic deletion does. The image drops a
//     replica only when the reassignment completes, i.e. once every target
//     replica has caught up and the ISR holds a target member, so the data
//     lives on.
//   - A replica this broker is adding copies under the broker's Throttle
//     (follower.replication.throttled.rate, a dynamic broker config),
//     shared by all its fetchers. So does a replica the topic config
//     follower.replication.throttled.replicas lists ("p:<this node>" or
//     "*"), as in Kafka, whose tools set it to the moving replicas. The
//     adding replicas are throttled without it because that is what an
//     operator wants when moving data, and the followers already in sync
//     are then never slowed down (acks=all produces do not wait for a
//     throttle) unless a list names them. The leader side (leader.
//     replication.throttled.rate/replicas) is cluster_throttle.go.
//   - The leader learns the new replica set (BecomeLeader at the same
//     epoch refreshes it, applyRole), so the adding replicas' fetches are
//     accepted and the ISR expansion takes them in once caught up.

import (
	"os"
	"slices"
	"time"

	"github.com/gregor-log/gregor/internal/metadata"
	"github.com/gregor-log/gregor/internal/partition"
	"github.com/gregor-log/gregor/internal/replication"
)

// follow makes p a follower of mp's leader in that leader's fetcher,
// throttled while this broker is one of the partition's adding replicas
// or the topic's follower.replication.throttled.replicas lists it
// (followerThrottled, cluster_throttle.go). The caller holds controlMu.
func (b *Broker) follow(tp replication.TopicPartition, p *partition.Partition, mp metadata.Partition) {
	f := b.fetcher(mp.Leader)
	f.Add(tp, p, mp.LeaderEpoch)
	throttled := slices.Contains(mp.AddingReplicas, b.nodeID())
	if mt, ok := b.store.Image().TopicByID(tp.TopicID); ok {
		throttled = followerThrottled(mt, mp, b.nodeID())
	}
	f.SetThrottled(tp, throttled)
}

// replicationThrottle is the Throttle every fetcher of this broker
// shares, created on first use at the configured rate. The caller holds
// controlMu.
func (b *Broker) replicationThrottle() *replication.Throttle {
	cs := b.cluster
	if cs.throttle == nil {
		cs.throttle = replication.NewThrottle()
		cs.throttle.SetRate(b.followerThrottleRate())
	}
	return cs.throttle
}

// applyReplicationThrottleLocked installs the replication quotas' rates
// (follower.replication.throttled.rate, leader.replication.throttled.rate)
// as the dynamic broker configs now have them (a change is recorded in
// the metadata by any node), and re-marks the followed partitions as the
// topics' follower.replication.throttled.replicas now list them. The
// caller holds controlMu.
func (b *Broker) applyReplicationThrottleLocked() {
	if b.clustered() {
		b.replicationThrottle().SetRate(b.followerThrottleRate())
		b.leaderThrottle().SetRate(b.leaderThrottleRate())
		b.markFollowerThrottlesLocked(b.store.Image())
	}
}

// followerThrottleRate is follower.replication.throttled.rate with its
// dynamic layers (node, cluster default, static).
func (b *Broker) followerThrottleRate() int64 {
	return b.replicationRate("follower.replication.throttled.rate")
}

// hostingChanged reports whether img's topic mt moves a replica of one of
// prev's partitions onto or off this broker.
func (b *Broker) hostingChanged(prev *topicState, mt *metadata.Topic) bool {
	for i, r := range prev.partitions {
		if i < len(mt.Partitions) && b.hostsReplica(mt.Partitions[i]) == (r.err == errNotHostedHere) {
			return true
		}
	}
	return false
}

// moveReplicas brings t's existing partitions (copied from the previous
// registry) in line with which of them the image has on this broker:
// it returns the open jobs of the replicas that arrive, and deletes the
// replicas that leave (their slots become errNotHostedHere). The caller
// holds controlMu (reconcile).
func (b *Broker) moveReplicas(t *topicState, mt *metadata.Topic, cfg partition.Config) []openJob {
	var jobs []openJob
	for i, r := range t.partitions {
		if i >= len(mt.Partitions) {
			break
		}
		hosted, wasHosted := b.hostsReplica(mt.Partitions[i]), r.err != errNotHostedHere
		switch {
		case hosted && !wasHosted:
			b.log.Info("replica assigned to this broker", "topic", t.name, "partition", i)
			jobs = append(jobs, openJob{topic: mt, state: t, index: int32(i), cfg: cfg})
		case !hosted && wasHosted:
			b.log.Info("replica moved off this broker; deleting it", "topic", t.name, "partition", i)
			b.forgetReplica(t.id, int32(i))
			if r.p != nil {
				if err := r.p.Delete(); err != nil {
					b.log.Error("deleting a replica moved away", "topic", t.name, "partition", i, "err", err)
				}
			} else {
				os.RemoveAll(b.partitionDir(t.name, int32(i)))
			}
			t.partitions[i] = replica{err: errNotHostedHere}
		}
	}
	return jobs
}

// notHostedReplica is the registry slot of a partition with no replica
// here. A directory this broker still has for it (the replica was moved
// away while the broker was down) is deleted, when its partition.metadata
// proves it is this topic's: the image no longer counts on it.
func (b *Broker) notHostedReplica(mt *metadata.Topic, index int32) replica {
	dir := b.partitionDir(mt.Name, index)
	if id, ok := readPartitionMetadata(dir); ok && id == mt.ID {
		b.log.Info("deleting a replica this broker no longer hosts", "dir", dir)
		if err := os.RemoveAll(dir); err != nil {
			b.log.Error("deleting a replica no longer hosted", "dir", dir, "err", err)
		}
	}
	return replica{err: errNotHostedHere}
}

// decide runs one metadata decision of a request every node answers:
// through the active controller in a cluster (ctlDo: NOT_CONTROLLER
// elsewhere), on a single node by a controller over its own image, the
// records appended to its own log.
func (b *Broker) decide(fn func(c *metadata.Controller, now time.Time) ([]metadata.Record, error)) error {
	if b.clustered() {
		return b.ctlDo(fn)
	}
	b.controlMu.Lock()
	defer b.controlMu.Unlock()
	c, err := metadata.NewController(b.store.Image(), b.controllerConfig())
	if err != nil {
		return err
	}
	records, err := fn(c, time.Now())
	if err != nil || len(records) == 0 {
		return err
	}
	if err := b.store.Append(records...); err != nil {
		return err
	}
	b.reconcile(b.store.Image())
	return nil
}
