package metadata

import (
	"cmp"
	"fmt"
	"slices"
)

// PlacementBroker is a broker that can take replicas of new partitions.
type PlacementBroker struct {
	NodeID int32
	Rack   string // "" for none
}

// Placement chooses the replicas of new partitions, in the manner of
// Kafka's replica assignment:
//
//   - The brokers are ordered by node id, or, when any broker has a rack,
//     with racks alternated (the first broker of each rack, then the second
//     of each, ...), so neighbours in the order are on different racks.
//   - Partition p's first replica, its preferred leader, is broker
//     (Start+p) mod n of that order: leaderships spread evenly.
//   - The other replicas follow the first at a distance that grows by one
//     every n partitions (from Shift), so the followers of one broker's
//     partitions spread over the others instead of all landing on its
//     neighbour.
//   - With racks, a follower is taken from a rack that has no replica of
//     the partition yet while such a rack remains.
//
// It is deterministic: callers draw Start and Shift at random (the
// controller from its seeded source) so topics do not all start on the
// same broker.
type Placement struct {
	Start, Shift int
}

// Place returns the replicas of partitions first..first+count-1 over
// brokers (in any order; duplicates are not allowed), each of
// replicationFactor distinct brokers. It fails when there are fewer brokers
// than the replication factor.
func (pl Placement) Place(brokers []PlacementBroker, first, count, replicationFactor int) ([][]int32, error) {
	n := len(brokers)
	if replicationFactor <= 0 || replicationFactor > n {
		return nil, fmt.Errorf("replication factor %d over %d brokers", replicationFactor, n)
	}
	if first < 0 || count < 0 {
		return nil, fmt.Errorf("partitions %d+%d", first, count)
	}
	order := rackAlternated(brokers)
	seen := make(map[int32]bool, n)
	for _, b := range order {
		if seen[b.NodeID] {
			return nil, fmt.Errorf("broker %d given twice", b.NodeID)
		}
		seen[b.NodeID] = true
	}
	racks := map[string]bool{}
	for _, b := range order {
		racks[b.Rack] = true
	}
	rackAware := len(racks) > 1
	start, shift := nonNegative(pl.Start)%n, nonNegative(pl.Shift)
	out := make([][]int32, count)
	for i := range out {
		p := first + i
		firstIndex := (start + p) % n
		// The shift grows once per round of n partitions.
		s := shift + (start+p)/n
		replicas := make([]int32, 0, replicationFactor)
		replicas = append(replicas, order[firstIndex].NodeID)
		usedRacks := map[string]bool{order[firstIndex].Rack: true}
		for k := 0; len(replicas) < replicationFactor; k++ {
			if k >= 2*n {
				panic("metadata: placement found no broker for a replica") // rf <= n makes this unreachable
			}
			// Candidates: every broker but the first, from distance s+1.
			var cand PlacementBroker
			if n > 1 {
				cand = order[(firstIndex+1+(s+k)%(n-1))%n]
			} else {
				cand = order[firstIndex]
			}
			if slices.Contains(replicas, cand.NodeID) {
				continue
			}
			// First pass over the candidates (k < n-1): only new racks.
			if rackAware && k < n-1 && usedRacks[cand.Rack] && len(usedRacks) < len(racks) {
				continue
			}
			replicas = append(replicas, cand.NodeID)
			usedRacks[cand.Rack] = true
		}
		out[i] = replicas
	}
	return out, nil
}

// rackAlternated orders brokers by rack then node id, then interleaves the
// racks: the first broker of each rack, the second of each, ...
func rackAlternated(brokers []PlacementBroker) []PlacementBroker {
	sorted := slices.Clone(brokers)
	slices.SortFunc(sorted, func(a, b PlacementBroker) int {
		return cmp.Or(cmp.Compare(a.Rack, b.Rack), cmp.Compare(a.NodeID, b.NodeID))
	})
	var byRack [][]PlacementBroker
	for i, b := range sorted {
		if i == 0 || sorted[i-1].Rack != b.Rack {
			byRack = append(byRack, nil)
		}
		byRack[len(byRack)-1] = append(byRack[len(byRack)-1], b)
	}
	out := make([]PlacementBroker, 0, len(brokers))
	for round := 0; len(out) < len(sorted); round++ {
		for _, rack := range byRack {
			if round < len(rack) {
				out = append(out, rack[round])
			}
		}
	}
	return out
}

func nonNegative(v int) int {
	if v < 0 {
		return -(v + 1)
	}
	return v
}
