package group

import (
	"slices"
	"sort"
)

// assignorMember is one member as a server-side assignor sees it.
type assignorMember struct {
	id string
	// rangeKey orders members for the range assignor: the instance id of a
	// static member (so a restarted member gets the same partitions), else
	// the member id.
	rangeKey string
	topics   []string   // subscribed topics that exist, sorted
	prev     assignment // the member's current target, for stickiness
}

// assignor computes a target assignment: every partition of every topic
// some member subscribes to goes to exactly one member subscribed to it.
type assignor func(members []assignorMember, topics map[string]TopicInfo) map[string]assignment

var assignors = map[string]assignor{
	"uniform": assignUniform,
	"range":   assignRange,
}

// topicPartition is a partition of the topic at index topic of an
// assignor's sorted topic list.
type topicPartition struct {
	topic     int
	partition int32
}

// assignRange gives each member a contiguous range of each topic it
// subscribes to, the first members one partition more when the count does
// not divide: the same partitions of co-partitioned topics go together.
func assignRange(members []assignorMember, topics map[string]TopicInfo) map[string]assignment {
	out := make(map[string]assignment, len(members))
	subscribers := make(map[string][]*assignorMember)
	for i := range members {
		m := &members[i]
		out[m.id] = make(assignment)
		for _, t := range m.topics {
			subscribers[t] = append(subscribers[t], m)
		}
	}
	for _, name := range sortedKeys(subscribers) {
		subs := subscribers[name]
		sort.Slice(subs, func(i, j int) bool {
			if subs[i].rangeKey != subs[j].rangeKey {
				return subs[i].rangeKey < subs[j].rangeKey
			}
			return subs[i].id < subs[j].id
		})
		info := topics[name]
		n := int32(len(subs))
		base, extra := info.Partitions/n, info.Partitions%n
		p := int32(0)
		for k, m := range subs {
			cnt := base
			if int32(k) < extra {
				cnt++
			}
			for end := p + cnt; p < end; p++ {
				out[m.id].add(info.ID, p)
			}
		}
	}
	return out
}

// assignUniform spreads partitions evenly (counts differ by at most one
// when all members subscribe to the same topics) and keeps each member's
// previous partitions where it can, so that a rebalance moves as few
// partitions as possible: with KIP-848 every moved partition costs a
// revocation round trip.
func assignUniform(members []assignorMember, topics map[string]TopicInfo) map[string]assignment {
	n := len(members)
	out := make(map[string]assignment, n)
	for i := range members {
		out[members[i].id] = make(assignment)
	}
	if n == 0 {
		return out
	}
	// Topics by index; owner[t][p] is the member index holding partition
	// p of topic t, -1 when none yet.
	subscribersByName := make(map[string][]int)
	homogeneous := true
	for i := range members {
		for _, t := range members[i].topics {
			subscribersByName[t] = append(subscribersByName[t], i)
		}
		if !slices.Equal(members[i].topics, members[0].topics) {
			homogeneous = false
		}
	}
	names := sortedKeys(subscribersByName)
	index := make(map[TopicID]int, len(names))
	subscribers := make([][]int, len(names))
	owner := make([][]int32, len(names))
	total := 0
	for ti, name := range names {
		index[topics[name].ID] = ti
		subscribers[ti] = subscribersByName[name]
		owner[ti] = make([]int32, topics[name].Partitions)
		for p := range owner[ti] {
			owner[ti][p] = -1
		}
		total += len(owner[ti])
	}
	subscribed := func(i, ti int) bool {
		_, ok := slices.BinarySearch(members[i].topics, names[ti])
		return ok
	}

	// Previous partitions still valid, each claimed by one member only, in
	// (topic, partition) order.
	counts := make([]int, n)
	prevValid := make([][]topicPartition, n)
	for i := range members {
		for _, id := range members[i].prev.sortedTopics() {
			ti, ok := index[id]
			if !ok || !subscribed(i, ti) {
				continue
			}
			for _, p := range members[i].prev[id] {
				if int(p) >= len(owner[ti]) || owner[ti][p] >= 0 {
					continue
				}
				owner[ti][p] = int32(i)
				prevValid[i] = append(prevValid[i], topicPartition{ti, p})
			}
		}
	}
	if homogeneous {
		// Quotas: base each, one more for the `extra` members that already
		// hold the most, so that keeping partitions and balance agree.
		base, extra := total/n, total%n
		order := make([]int, n)
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(a, b int) bool { return len(prevValid[order[a]]) > len(prevValid[order[b]]) })
		quota := make([]int, n)
		for k, i := range order {
			quota[i] = base
			if k < extra {
				quota[i]++
			}
		}
		for i := range members {
			for k, tp := range prevValid[i] {
				if k >= quota[i] {
					owner[tp.topic][tp.partition] = -1
					continue
				}
				counts[i]++
			}
		}
		next := 0
		for ti := range owner {
			for p := range owner[ti] {
				if owner[ti][p] >= 0 {
					continue
				}
				for counts[next] >= quota[next] {
					next = (next + 1) % n
				}
				owner[ti][p] = int32(next)
				counts[next]++
			}
		}
	} else {
		for i := range members {
			counts[i] = len(prevValid[i])
		}
		leastLoaded := func(ti int) int {
			best := -1
			for _, i := range subscribers[ti] {
				if best < 0 || counts[i] < counts[best] {
					best = i
				}
			}
			return best
		}
		// Partitions of topics with fewer subscribers first: they have
		// fewer places to go.
		byScarcity := make([]int, len(names))
		for ti := range byScarcity {
			byScarcity[ti] = ti
		}
		sort.SliceStable(byScarcity, func(a, b int) bool {
			return len(subscribers[byScarcity[a]]) < len(subscribers[byScarcity[b]])
		})
		for _, ti := range byScarcity {
			for p := range owner[ti] {
				if owner[ti][p] < 0 {
					i := leastLoaded(ti)
					owner[ti][p] = int32(i)
					counts[i]++
				}
			}
		}
		// Balance: move a partition whenever an eligible member has two
		// fewer than its owner. Each move lowers the sum of squared
		// counts, so this ends; the pass bound is a guard.
		for pass := 0; pass < 64; pass++ {
			moved := false
			for ti := range owner {
				for p := range owner[ti] {
					o := int(owner[ti][p])
					e := leastLoaded(ti)
					if counts[o] > counts[e]+1 {
						owner[ti][p] = int32(e)
						counts[o]--
						counts[e]++
						moved = true
					}
				}
			}
			if !moved {
				break
			}
		}
	}
	for ti, name := range names {
		id := topics[name].ID
		for p, i := range owner[ti] {
			a := out[members[i].id]
			a[id] = append(a[id], int32(p)) // ascending p: stays sorted
		}
	}
	return out
}
