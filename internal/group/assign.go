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

type topicPartition struct {
	topic     string
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
	byID := make(map[TopicID]string, len(topics))
	for name, t := range topics {
		byID[t.ID] = name
	}
	subscribed := make([]map[string]bool, n)
	subscribers := make(map[string][]int)
	homogeneous := true
	for i := range members {
		subscribed[i] = make(map[string]bool, len(members[i].topics))
		for _, t := range members[i].topics {
			subscribed[i][t] = true
			subscribers[t] = append(subscribers[t], i)
		}
		if !slices.Equal(members[i].topics, members[0].topics) {
			homogeneous = false
		}
	}
	var all []topicPartition
	for _, name := range sortedKeys(subscribers) {
		for p := int32(0); p < topics[name].Partitions; p++ {
			all = append(all, topicPartition{name, p})
		}
	}

	// Previous partitions still valid, each claimed by one member only.
	owner := make(map[topicPartition]int, len(all))
	prevValid := make([][]topicPartition, n)
	for i := range members {
		for _, t := range members[i].prev.sortedTopics() {
			name, ok := byID[t]
			if !ok || !subscribed[i][name] {
				continue
			}
			for _, p := range members[i].prev[t] {
				tp := topicPartition{name, p}
				if _, taken := owner[tp]; taken || p >= topics[name].Partitions {
					continue
				}
				owner[tp] = i
				prevValid[i] = append(prevValid[i], tp)
			}
		}
	}
	counts := make([]int, n)
	if homogeneous {
		// Quotas: base each, one more for the `extra` members that already
		// hold the most, so that keeping partitions and balance agree.
		base, extra := len(all)/n, len(all)%n
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
					delete(owner, tp)
					continue
				}
				counts[i]++
			}
		}
		next := 0
		for _, tp := range all {
			if _, ok := owner[tp]; ok {
				continue
			}
			for counts[next] >= quota[next] {
				next = (next + 1) % n
			}
			owner[tp] = next
			counts[next]++
		}
	} else {
		for _, i := range owner {
			counts[i]++
		}
		// Partitions of topics with fewer subscribers first: they have
		// fewer places to go.
		rest := make([]topicPartition, 0, len(all))
		for _, tp := range all {
			if _, ok := owner[tp]; !ok {
				rest = append(rest, tp)
			}
		}
		sort.SliceStable(rest, func(a, b int) bool {
			return len(subscribers[rest[a].topic]) < len(subscribers[rest[b].topic])
		})
		leastLoaded := func(topic string) int {
			best := -1
			for _, i := range subscribers[topic] {
				if best < 0 || counts[i] < counts[best] {
					best = i
				}
			}
			return best
		}
		for _, tp := range rest {
			i := leastLoaded(tp.topic)
			owner[tp] = i
			counts[i]++
		}
		// Balance: move a partition whenever an eligible member has two
		// fewer than its owner. Each move lowers the sum of squared
		// counts, so this ends; the pass bound is a guard.
		for pass := 0; pass < 64; pass++ {
			moved := false
			for _, tp := range all {
				o := owner[tp]
				e := leastLoaded(tp.topic)
				if counts[o] > counts[e]+1 {
					owner[tp] = e
					counts[o]--
					counts[e]++
					moved = true
				}
			}
			if !moved {
				break
			}
		}
	}
	for _, tp := range all {
		out[members[owner[tp]].id].add(topics[tp.topic].ID, tp.partition)
	}
	return out
}
