package metadata

import (
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// AlterPartitionRequest is an AlterPartition request (API 56, KIP-497): a
// leader proposing new ISRs for partitions it leads.
type AlterPartitionRequest struct {
	NodeID      int32
	BrokerEpoch int64
	Partitions  []AlterPartitionItem
}

// AlterPartitionItem is one partition's proposal. The topic is named by
// TopicID (AlterPartition v2+) or, when that is zero, by Topic.
type AlterPartitionItem struct {
	TopicID        TopicID
	Topic          string
	Partition      int32
	LeaderEpoch    int32
	NewISR         []int32
	PartitionEpoch int32
}

// AlterPartitionResult answers one item: Err, or the partition's state
// once the records are appended.
type AlterPartitionResult struct {
	TopicID        TopicID
	Topic          string
	Partition      int32
	Err            error
	Leader         int32
	LeaderEpoch    int32
	ISR            []int32
	PartitionEpoch int32
}

// AlterPartition checks each proposal against the partition as the image
// has it and returns the records of the accepted ones, each bumping the
// partition epoch. Per partition:
//
//   - the requester must be the leader (NOT_LEADER_OR_FOLLOWER), at the
//     leader epoch (FENCED_LEADER_EPOCH) and partition epoch
//     (INVALID_UPDATE_VERSION) it names: a leader that has not seen the
//     latest change must not undo it;
//   - the new ISR must be a non-empty set of replicas holding the leader
//     (INVALID_REQUEST), of eligible brokers: registered, unfenced, not
//     shutting down (INELIGIBLE_REPLICA).
//
// A request from a registration other than the current one fails whole
// with STALE_BROKER_EPOCH. A proposal equal to the current ISR succeeds
// without a record.
func (c *Controller) AlterPartition(now time.Time, req AlterPartitionRequest) ([]AlterPartitionResult, []Record, error) {
	if b, ok := c.img.Broker(req.NodeID); !ok || b.BrokerEpoch != req.BrokerEpoch {
		return nil, nil, controllerErr(kerr.StaleBrokerEpoch, "Broker %d with epoch %d is not registered.", req.NodeID, req.BrokerEpoch)
	}
	results := make([]AlterPartitionResult, len(req.Partitions))
	var records []Record
	seen := map[partitionKey]bool{}
	for i, item := range req.Partitions {
		res := &results[i]
		res.TopicID, res.Topic, res.Partition = item.TopicID, item.Topic, item.Partition
		t, p, err := c.lookupPartition(item.TopicID, item.Topic, item.Partition)
		if err != nil {
			res.Err = err
			continue
		}
		key := partitionKey{t.ID, p.Partition}
		if seen[key] {
			res.Err = controllerErr(kerr.InvalidRequest, "Partition %s-%d is given twice.", t.Name, p.Partition)
			continue
		}
		seen[key] = true
		if res.Err = c.checkAlterPartition(req.NodeID, t, p, item); res.Err != nil {
			continue
		}
		// An ISR that now holds every adding replica completes the
		// partition's reassignment in the same record
		// (controller_reassign.go).
		next := p
		next.ISR = item.NewISR
		if r := partitionChange(t, p, c.completeReassignment(next, p.ISR)); r != nil {
			records = append(records, r)
			res.Leader, res.LeaderEpoch, res.ISR, res.PartitionEpoch = r.Leader, r.LeaderEpoch, slices.Clone(r.ISR), r.PartitionEpoch
		} else {
			res.Leader, res.LeaderEpoch, res.ISR, res.PartitionEpoch = p.Leader, p.LeaderEpoch, slices.Clone(p.ISR), p.PartitionEpoch
		}
	}
	return results, records, nil
}

func (c *Controller) checkAlterPartition(node int32, t *Topic, p Partition, item AlterPartitionItem) error {
	switch {
	case p.Leader != node:
		return controllerErr(kerr.NotLeaderForPartition, "Broker %d is not the leader of %s-%d (%d is).", node, t.Name, p.Partition, p.Leader)
	case item.LeaderEpoch != p.LeaderEpoch:
		return controllerErr(kerr.FencedLeaderEpoch, "Leader epoch %d of %s-%d is not the current %d.", item.LeaderEpoch, t.Name, p.Partition, p.LeaderEpoch)
	case item.PartitionEpoch != p.PartitionEpoch:
		return controllerErr(kerr.InvalidUpdateVersion, "Partition epoch %d of %s-%d is not the current %d.", item.PartitionEpoch, t.Name, p.Partition, p.PartitionEpoch)
	case len(item.NewISR) == 0 || hasDuplicate(item.NewISR) || !subset(item.NewISR, p.Replicas) || !slices.Contains(item.NewISR, p.Leader):
		return controllerErr(kerr.InvalidRequest, "ISR %v of %s-%d must be distinct replicas of %v and hold the leader %d.",
			item.NewISR, t.Name, p.Partition, p.Replicas, p.Leader)
	}
	for _, id := range item.NewISR {
		if !c.eligible(id) {
			return controllerErr(kerr.IneligibleReplica, "Broker %d of the ISR %v of %s-%d is fenced, shutting down or not registered.",
				id, item.NewISR, t.Name, p.Partition)
		}
	}
	return nil
}

// partitionKey names a partition.
type partitionKey struct {
	topic     TopicID
	partition int32
}

// lookupPartition finds a partition by topic id (if not zero) or name.
func (c *Controller) lookupPartition(id TopicID, name string, partition int32) (*Topic, Partition, error) {
	var t *Topic
	var ok bool
	if id != (TopicID{}) {
		if t, ok = c.img.TopicByID(id); !ok {
			return nil, Partition{}, controllerErr(kerr.UnknownTopicID, "Topic id %s does not exist.", id)
		}
	} else if t, ok = c.img.Topic(name); !ok {
		return nil, Partition{}, controllerErr(kerr.UnknownTopicOrPartition, "Topic '%s' does not exist.", name)
	}
	if partition < 0 || int(partition) >= len(t.Partitions) {
		return nil, Partition{}, controllerErr(kerr.UnknownTopicOrPartition, "Partition %s-%d does not exist.", t.Name, partition)
	}
	return t, t.Partitions[partition], nil
}

// ElectionType is ElectLeaders' election type, with Kafka's values.
type ElectionType int8

const (
	// PreferredElection moves leadership to the first replica when it is
	// an eligible ISR member.
	PreferredElection ElectionType = 0
	// UncleanElection elects a leader for a leaderless partition: an
	// eligible ISR member if there is one, else any eligible replica,
	// whatever unclean.leader.election.enable says (the operator asked).
	UncleanElection ElectionType = 1
)

// TopicPartition names a partition by topic name.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// ElectionResult answers one partition of ElectLeaders; Err nil is
// success.
type ElectionResult struct {
	TopicPartition
	Err error
}

// ElectLeaders runs elections (ElectLeaders, API 43) for partitions, or
// for every partition when partitions is nil, in which case partitions
// needing no election are left out of the results. Errors per partition:
// UNKNOWN_TOPIC_OR_PARTITION, ELECTION_NOT_NEEDED (already led by the
// preferred replica; or, unclean, already led), PREFERRED_LEADER_NOT_AVAILABLE
// (the preferred replica is not an eligible ISR member),
// ELIGIBLE_LEADERS_NOT_AVAILABLE (unclean: no eligible replica),
// INVALID_REQUEST (an unknown election type).
func (c *Controller) ElectLeaders(now time.Time, typ ElectionType, partitions []TopicPartition) ([]ElectionResult, []Record) {
	all := partitions == nil
	if all {
		for _, t := range c.img.Topics() {
			for _, p := range t.Partitions {
				partitions = append(partitions, TopicPartition{t.Name, p.Partition})
			}
		}
	}
	var results []ElectionResult
	var records []Record
	seen := map[TopicPartition]bool{}
	for _, tp := range partitions {
		if seen[tp] {
			continue
		}
		seen[tp] = true
		t, p, err := c.lookupPartition(TopicID{}, tp.Topic, tp.Partition)
		if err == nil {
			var r *PartitionChangeRecord
			r, err = c.elect(typ, t, p)
			if r != nil {
				records = append(records, r)
			}
		}
		if all && err != nil && kerrIs(err, kerr.ElectionNotNeeded) {
			continue
		}
		results = append(results, ElectionResult{TopicPartition: tp, Err: err})
	}
	return results, records
}

func (c *Controller) elect(typ ElectionType, t *Topic, p Partition) (*PartitionChangeRecord, error) {
	switch typ {
	case PreferredElection:
		if len(p.Replicas) == 0 {
			return nil, controllerErr(kerr.PreferredLeaderNotAvailable, "%s-%d has no replicas.", t.Name, p.Partition)
		}
		preferred := p.Replicas[0]
		switch {
		case p.Leader == preferred:
			return nil, controllerErr(kerr.ElectionNotNeeded, "Leader of %s-%d is already the preferred replica %d.", t.Name, p.Partition, preferred)
		case !slices.Contains(p.ISR, preferred) || !c.eligible(preferred):
			return nil, controllerErr(kerr.PreferredLeaderNotAvailable, "Preferred replica %d of %s-%d is not an ISR member that is alive.", preferred, t.Name, p.Partition)
		}
		return changeRecord(t, p, preferred, p.ISR, nil), nil
	case UncleanElection:
		if p.Leader != NoLeader {
			return nil, controllerErr(kerr.ElectionNotNeeded, "%s-%d has leader %d.", t.Name, p.Partition, p.Leader)
		}
		leader, isr := c.electLeader(p.Replicas, p.ISR, c.eligible, true)
		if leader == NoLeader {
			return nil, controllerErr(kerr.EligibleLeadersNotAvailable, "No replica of %s-%d is alive.", t.Name, p.Partition)
		}
		return changeRecord(t, p, leader, isr, nil), nil
	}
	return nil, controllerErr(kerr.InvalidRequest, "Unknown election type %d.", typ)
}

func kerrIs(err error, code *kerr.Error) bool {
	ce, ok := err.(*ControllerError)
	return ok && ce.Kafka == code
}
