package group

import (
	"slices"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// assignment is a set of partitions by topic id: each list sorted,
// without duplicates, never empty.
type assignment map[TopicID][]int32

func (a assignment) has(t TopicID, p int32) bool {
	_, ok := slices.BinarySearch(a[t], p)
	return ok
}

func (a assignment) count() int {
	n := 0
	for _, ps := range a {
		n += len(ps)
	}
	return n
}

func (a assignment) add(t TopicID, p int32) {
	ps := a[t]
	i, ok := slices.BinarySearch(ps, p)
	if !ok {
		a[t] = slices.Insert(ps, i, p)
	}
}

func (a assignment) equal(b assignment) bool {
	if len(a) != len(b) {
		return false
	}
	for t, ps := range a {
		if !slices.Equal(ps, b[t]) {
			return false
		}
	}
	return true
}

// filter returns the partitions of a for which keep is true.
func (a assignment) filter(keep func(t TopicID, p int32) bool) assignment {
	out := make(assignment)
	for t, ps := range a {
		var kept []int32
		for _, p := range ps {
			if keep(t, p) {
				kept = append(kept, p)
			}
		}
		if len(kept) > 0 {
			out[t] = kept
		}
	}
	return out
}

// minus is a without b; intersect is a and b.
func (a assignment) minus(b assignment) assignment {
	return a.filter(func(t TopicID, p int32) bool { return !b.has(t, p) })
}

func (a assignment) intersect(b assignment) assignment {
	return a.filter(func(t TopicID, p int32) bool { return b.has(t, p) })
}

// overlaps reports whether a and b share a partition.
func (a assignment) overlaps(b assignment) bool {
	for t, ps := range a {
		for _, p := range ps {
			if b.has(t, p) {
				return true
			}
		}
	}
	return false
}

// subsetOf reports whether every partition of a is in b.
func (a assignment) subsetOf(b assignment) bool {
	for t, ps := range a {
		for _, p := range ps {
			if !b.has(t, p) {
				return false
			}
		}
	}
	return true
}

func (a assignment) clone() assignment {
	out := make(assignment, len(a))
	for t, ps := range a {
		out[t] = slices.Clone(ps)
	}
	return out
}

// sortedTopics returns the topic ids in byte order, for deterministic walks.
func (a assignment) sortedTopics() []TopicID {
	ts := make([]TopicID, 0, len(a))
	for t := range a {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return string(ts[i][:]) < string(ts[j][:]) })
	return ts
}

// ownedFromRequest reads a heartbeat's owned partitions; nil (the field
// was null: "unchanged") stays nil. Partitions are sorted and deduplicated
// here, as the client's list is not trusted to be.
func ownedFromRequest(ts []kmsg.ConsumerGroupHeartbeatRequestTopic) assignment {
	if ts == nil {
		return nil
	}
	out := make(assignment, len(ts))
	for _, t := range ts {
		for _, p := range t.Partitions {
			if p >= 0 {
				out.add(t.TopicID, p)
			}
		}
	}
	return out
}

func (a assignment) toHeartbeat() *kmsg.ConsumerGroupHeartbeatResponseAssignment {
	out := &kmsg.ConsumerGroupHeartbeatResponseAssignment{}
	out.Topics = make([]kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic, 0, len(a))
	for _, t := range a.sortedTopics() {
		at := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
		at.TopicID = t
		at.Partitions = slices.Clone(a[t])
		out.Topics = append(out.Topics, at)
	}
	return out
}

func (a assignment) toDescribe(names map[TopicID]TopicInfo) kmsg.Assignment {
	out := kmsg.NewAssignment()
	out.TopicPartitions = make([]kmsg.AssignmentTopicPartition, 0, len(a))
	for _, t := range a.sortedTopics() {
		tp := kmsg.NewAssignmentTopicPartition()
		tp.TopicID = t
		tp.Topic = names[t].Name
		tp.Partitions = slices.Clone(a[t])
		out.TopicPartitions = append(out.TopicPartitions, tp)
	}
	return out
}
