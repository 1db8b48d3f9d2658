package metadata

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Partition reassignment (KIP-455) and preferred-leader rebalancing.
//
// A reassignment moves a partition from its replicas R to a target T in
// three steps, each one PartitionChangeRecord:
//
//  1. Start (AlterPartitionReassignments): Replicas = T followed by R−T,
//     AddingReplicas = T−R, RemovingReplicas = R−T; leader and ISR stay.
//     The adding replicas open the partition and follow the leader; they
//     are not in the ISR.
//  2. The leader adds each adding replica to the ISR once it has caught
//     up, through the ordinary ISR expansion (AlterPartition).
//  3. Completion, in the same record as the ISR change that makes it
//     possible: once every adding replica is in the ISR and the ISR holds a
//     member of T, Replicas = T, ISR = ISR ∩ T, no adding or removing
//     replicas; a leader outside T gives way to the first replica of T in
//     the new ISR that is eligible (a new leader epoch).
//
// Cancelling (target nil) goes back to R: Replicas = Replicas−Adding, ISR
// without the adding replicas. A new target while a reassignment is in
// progress starts over from R, keeping what the adding replicas already
// copied when they stay in the new target (KRaft's behaviour).
//
// Every step keeps the invariants of records_cluster.go: the ISR is never
// emptied and the leader stays an ISR member, so no acknowledged record is
// lost by a move. A step that could not keep them is refused, never
// forced.

// Reassignment is one partition of an AlterPartitionReassignments request:
// the target replicas, nil to cancel the reassignment in progress.
type Reassignment struct {
	TopicPartition
	Replicas []int32
}

// ReassignmentResult answers one partition of AlterPartitionReassignments;
// Err nil is success.
type ReassignmentResult struct {
	TopicPartition
	Err error
}

// OngoingReassignment is a partition whose reassignment is in progress,
// as ListPartitionReassignments reports it.
type OngoingReassignment struct {
	TopicPartition
	Replicas         []int32
	AddingReplicas   []int32
	RemovingReplicas []int32
}

// Reassigning reports whether a reassignment of p is in progress.
func (p Partition) Reassigning() bool {
	return len(p.AddingReplicas) > 0 || len(p.RemovingReplicas) > 0
}

// AlterPartitionReassignments starts, changes or cancels reassignments
// (API 45) and returns one result per request entry, in order, and the
// records of the accepted ones. allowReplicationFactorChange false (v1's
// AllowReplicationFactorChange) refuses a target whose size differs from
// the partition's replica count. Errors per partition:
// UNKNOWN_TOPIC_OR_PARTITION; INVALID_REPLICA_ASSIGNMENT for an empty
// target, a node given twice or a node that is not a registered broker,
// or a change that would leave no ISR member; INVALID_REPLICATION_FACTOR;
// NO_REASSIGNMENT_IN_PROGRESS (cancel with nothing to cancel);
// ELIGIBLE_LEADERS_NOT_AVAILABLE (the leader must move and no ISR member
// can take over); INVALID_REQUEST (a partition named twice).
func (c *Controller) AlterPartitionReassignments(now time.Time, reqs []Reassignment, allowReplicationFactorChange bool) ([]ReassignmentResult, []Record) {
	results := make([]ReassignmentResult, len(reqs))
	var records []Record
	seen := map[TopicPartition]bool{}
	for i, req := range reqs {
		results[i].TopicPartition = req.TopicPartition
		if seen[req.TopicPartition] {
			results[i].Err = controllerErr(kerr.InvalidRequest, "Partition %s-%d is given twice.", req.Topic, req.Partition)
			continue
		}
		seen[req.TopicPartition] = true
		t, p, err := c.lookupPartition(TopicID{}, req.Topic, req.Partition)
		if err != nil {
			results[i].Err = err
			continue
		}
		next, err := c.reassign(t, p, req.Replicas, allowReplicationFactorChange)
		if err != nil {
			results[i].Err = err
			continue
		}
		if r := partitionChange(t, p, c.completeReassignment(next, p.ISR)); r != nil {
			records = append(records, r)
		}
	}
	return results, records
}

// reassign returns p with the reassignment to target (nil: cancel)
// started, before any completion.
func (c *Controller) reassign(t *Topic, p Partition, target []int32, allowReplicationFactorChange bool) (Partition, error) {
	original := originalReplicas(p)
	if target == nil {
		if !p.Reassigning() {
			return p, controllerErr(kerr.NoReassignmentInProgress, "No reassignment of %s-%d is in progress.", t.Name, p.Partition)
		}
		target = original
	} else if err := c.checkTarget(t, p, target, original, allowReplicationFactorChange); err != nil {
		return p, err
	}
	next := p
	next.AddingReplicas = difference(target, original)
	next.RemovingReplicas = difference(original, target)
	next.Replicas = slices.Concat(target, next.RemovingReplicas)
	next.ISR = intersection(p.ISR, next.Replicas)
	if len(next.ISR) == 0 {
		return p, controllerErr(kerr.InvalidReplicaAssignment, "No ISR member of %s-%d (ISR %v) would stay a replica of %v.",
			t.Name, p.Partition, p.ISR, next.Replicas)
	}
	if p.Leader != NoLeader && !slices.Contains(next.ISR, p.Leader) {
		// The leader was an adding replica of the reassignment replaced.
		if next.Leader = c.firstEligible(next.Replicas, next.ISR); next.Leader == NoLeader {
			return p, controllerErr(kerr.EligibleLeadersNotAvailable, "No ISR member of %s-%d in %v can lead.", t.Name, p.Partition, next.Replicas)
		}
	}
	return next, nil
}

// checkTarget checks a reassignment's target replicas.
func (c *Controller) checkTarget(t *Topic, p Partition, target, original []int32, allowReplicationFactorChange bool) error {
	switch {
	case len(target) == 0:
		return controllerErr(kerr.InvalidReplicaAssignment, "The target replicas of %s-%d are empty.", t.Name, p.Partition)
	case hasDuplicate(target):
		return controllerErr(kerr.InvalidReplicaAssignment, "The target replicas %v of %s-%d name a node twice.", target, t.Name, p.Partition)
	case !allowReplicationFactorChange && len(target) != len(original):
		return controllerErr(kerr.InvalidReplicationFactor, "The target replicas %v of %s-%d change the replication factor %d.",
			target, t.Name, p.Partition, len(original))
	}
	for _, id := range target {
		if _, ok := c.img.Broker(id); !ok {
			return controllerErr(kerr.InvalidReplicaAssignment, "The target replicas %v of %s-%d name broker %d, which is not registered.",
				target, t.Name, p.Partition, id)
		}
	}
	return nil
}

// completeReassignment returns p with its reassignment completed when it
// can be: every adding replica is in the ISR, the ISR holds a member of
// the target, and the leader is in the target or an eligible member of
// the new ISR that is also in committedISR can take over. Otherwise (or
// with no reassignment in progress) p is returned unchanged.
//
// committedISR is the ISR the image has, before the change being decided:
// a replica joining the ISR in the same record may not lead at once, so
// every new leader comes from an ISR the log already holds (invariant 3
// at its strictest). If only such a replica could take over, the next
// CompleteReassignments, once the image shows it in the ISR, completes.
func (c *Controller) completeReassignment(p Partition, committedISR []int32) Partition {
	if !p.Reassigning() || !subset(p.AddingReplicas, p.ISR) {
		return p
	}
	target := difference(p.Replicas, p.RemovingReplicas)
	isr := intersection(p.ISR, target)
	if len(isr) == 0 {
		return p
	}
	leader := p.Leader
	if leader != NoLeader && !slices.Contains(isr, leader) {
		if leader = c.firstEligible(target, intersection(isr, committedISR)); leader == NoLeader {
			return p
		}
	}
	next := p
	next.Replicas, next.ISR, next.Leader = target, isr, leader
	next.AddingReplicas, next.RemovingReplicas = nil, nil
	return next
}

// CompleteReassignments returns the records that complete every
// reassignment that can be completed. AlterPartition completes them as
// the ISR grows; this catches the rest (a leader change, a broker fenced
// and back), so the controller calls it on its tick.
func (c *Controller) CompleteReassignments() []Record {
	var records []Record
	for _, t := range c.img.Topics() {
		for _, p := range t.Partitions {
			if !p.Reassigning() {
				continue
			}
			if r := partitionChange(t, p, c.completeReassignment(p, p.ISR)); r != nil {
				records = append(records, r)
			}
		}
	}
	return records
}

// Reassignments lists the reassignments in progress of partitions, or of
// every partition when partitions is nil (ListPartitionReassignments, API
// 46), sorted by topic and partition. Partitions that do not exist or are
// not being reassigned are left out, as Kafka does.
func (img *Image) Reassignments(partitions []TopicPartition) []OngoingReassignment {
	var out []OngoingReassignment
	add := func(t *Topic, p Partition) {
		out = append(out, OngoingReassignment{TopicPartition: TopicPartition{t.Name, p.Partition},
			Replicas: slices.Clone(p.Replicas), AddingReplicas: slices.Clone(p.AddingReplicas),
			RemovingReplicas: slices.Clone(p.RemovingReplicas)})
	}
	if partitions == nil {
		for _, t := range img.Topics() {
			for _, p := range t.Partitions {
				if p.Reassigning() {
					add(t, p)
				}
			}
		}
		return out
	}
	seen := map[TopicPartition]bool{}
	for _, tp := range partitions {
		t, ok := img.Topic(tp.Topic)
		if seen[tp] || !ok || tp.Partition < 0 || int(tp.Partition) >= len(t.Partitions) {
			continue
		}
		seen[tp] = true
		if p := t.Partitions[tp.Partition]; p.Reassigning() {
			add(t, p)
		}
	}
	slices.SortFunc(out, func(a, b OngoingReassignment) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return out
}

// RebalanceLeaders is Kafka's automatic preferred-leader rebalancing
// (auto.leader.rebalance.enable): for each broker, the share of the
// partitions it is the preferred replica of (the first of Replicas) that
// it does not lead is its imbalance; a broker whose imbalance is above
// imbalancePercentage gets those leaderships back where it can take them
// (an eligible ISR member; partitions being reassigned are left alone, as
// their replica order is in flux). It returns the records of those
// preferred elections.
func (c *Controller) RebalanceLeaders(now time.Time, imbalancePercentage int) []Record {
	type counts struct{ preferred, notLed int }
	perBroker := map[int32]*counts{} // bounded by the brokers the image names
	for _, t := range c.img.Topics() {
		for _, p := range t.Partitions {
			if len(p.Replicas) == 0 {
				continue
			}
			n := perBroker[p.Replicas[0]]
			if n == nil {
				n = &counts{}
				perBroker[p.Replicas[0]] = n
			}
			n.preferred++
			if p.Leader != p.Replicas[0] {
				n.notLed++
			}
		}
	}
	var records []Record
	for _, t := range c.img.Topics() {
		for _, p := range t.Partitions {
			if len(p.Replicas) == 0 || p.Leader == p.Replicas[0] || p.Reassigning() {
				continue
			}
			// notLed/preferred > percentage/100, in integers.
			if n := perBroker[p.Replicas[0]]; n.notLed*100 <= imbalancePercentage*n.preferred {
				continue
			}
			if r, err := c.elect(PreferredElection, t, p); err == nil && r != nil {
				records = append(records, r)
			}
		}
	}
	return records
}

// firstEligible is the first of replicas that is in isr and eligible, or
// NoLeader.
func (c *Controller) firstEligible(replicas, isr []int32) int32 {
	for _, id := range replicas {
		if slices.Contains(isr, id) && c.eligible(id) {
			return id
		}
	}
	return NoLeader
}

// originalReplicas are the replicas of p before its reassignment began.
func originalReplicas(p Partition) []int32 { return difference(p.Replicas, p.AddingReplicas) }

// partitionChange returns the record that changes p into next (leader,
// ISR, replicas and reassignment state) with the right epochs, or nil
// when nothing changes.
func partitionChange(t *Topic, p, next Partition) *PartitionChangeRecord {
	replicasChanged := !slices.Equal(next.Replicas, p.Replicas) ||
		!slices.Equal(next.AddingReplicas, p.AddingReplicas) || !slices.Equal(next.RemovingReplicas, p.RemovingReplicas)
	if !replicasChanged {
		return changeRecord(t, p, next.Leader, next.ISR, nil)
	}
	leaderEpoch := p.LeaderEpoch
	if next.Leader != p.Leader {
		leaderEpoch++
	}
	return &PartitionChangeRecord{TopicID: t.ID, Partition: p.Partition, Leader: next.Leader, ISR: slices.Clone(next.ISR),
		Replicas: slices.Clone(next.Replicas), LeaderEpoch: leaderEpoch, PartitionEpoch: p.PartitionEpoch + 1,
		AddingReplicas: slices.Clone(next.AddingReplicas), RemovingReplicas: slices.Clone(next.RemovingReplicas)}
}

// difference is the members of a not in b, in a's order (nil if none).
func difference(a, b []int32) []int32 {
	var out []int32
	for _, id := range a {
		if !slices.Contains(b, id) {
			out = append(out, id)
		}
	}
	return out
}

// intersection is the members of a also in b, in a's order (nil if none).
func intersection(a, b []int32) []int32 {
	var out []int32
	for _, id := range a {
		if slices.Contains(b, id) {
			out = append(out, id)
		}
	}
	return out
}
