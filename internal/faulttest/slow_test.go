package faulttest

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// slowFetchDelay is the delay on a slowed follower's link to its leader:
// each way, so one fetch takes at least twice as long, well above the
// cluster's replica.lag.time.max.ms (Defaults: 1500 ms).
const slowFetchDelay = 2 * time.Second

// A follower whose link to a leader is slow (each fetch and its answer
// delayed by more than replica.lag.time.max.ms) leaves the ISR of that
// leader's partitions while acks=all writes go on (the leader and the
// third replica still make min.insync.replicas=2); once the link heals
// it catches up and rejoins. The same must hold when that one link
// stalls or is cut: the follower's fetches stop, nothing else does.
//
// The leader is not the active controller and the follower is the third
// node, so only fetches are hit: the follower's heartbeats to the
// controller and the leader's ISR proposals cross other links, and the
// follower leaves the ISR by lagging, not by being fenced.
func TestSlowFollowerLeavesISR(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault func(*Proxy)
	}{
		{"slow", func(p *Proxy) { p.Delay(slowFetchDelay) }},
		{"stalled", (*Proxy).Stall},
		{"cut", (*Proxy).Cut},
	} {
		t.Run(tc.name, func(t *testing.T) { followerLinkFault(t, tc.fault) })
	}
}

func followerLinkFault(t *testing.T, fault func(*Proxy)) {
	c, p, r := startLoaded(t)
	before := c.WaitPartitions(10*time.Second, topic, "a leader for every partition", FullISR)
	leader, _ := pickVictim(t, c, before, plainLeader)
	controller := controllerOf(t, c)
	var follower int32 = -1
	for _, n := range c.Nodes {
		if n.ID != leader && n.ID != controller {
			follower = n.ID
		}
	}
	var led []int32
	for _, s := range before {
		if s.Leader == leader {
			led = append(led, s.Partition)
		}
	}
	t.Logf("striking node %d's link to node %d, leader of partitions %v", follower, leader, led)

	for _, px := range c.links[follower][leader] {
		fault(px)
	}
	c.note(fmt.Sprintf("link from node %d to node %d struck", follower, leader))
	c.WaitPartitions(30*time.Second, topic, fmt.Sprintf("node %d out of the ISR of node %d's partitions %v", follower, leader, led),
		func(s PartitionState) bool {
			return s.Leader >= 0 && (!slices.Contains(led, s.Partition) || !slices.Contains(s.ISR, follower))
		})
	c.WaitAcks(p, topic, p.History.AckCount(), ackBatch, 30*time.Second, "while a follower's fetches are slow")

	c.Heal(follower)
	rejoined(c, p, follower, "after the follower's link healed")
	verify(t, c, p, r)
}

// A leader whose every link is stalled (half-open: connections open, new
// ones accepted, nothing carried) rather than cut, as in
// TestPartitionIsolatesLeader: it must not acknowledge acks=all writes,
// the majority elects a new leader and goes on; after the heal the
// stalled requests of both sides arrive late (fetches, heartbeats, ISR
// proposals, Raft messages from before), and the old leader rejoins as a
// follower, dropping what it appended alone.
func TestStalledLeaderLinks(t *testing.T) {
	for _, k := range victimKinds {
		t.Run(k.String(), func(t *testing.T) { stallLeader(t, k) })
	}
}

func stallLeader(t *testing.T, kind victimKind) {
	leaderLosesLinks(t, kind, linkLoss{strike: (*Cluster).StallNode, state: "stalled", heal: "after the stall healed"})
}
