package faulttest

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

// chaosSteps is how many faults TestChaos injects: enough to overlap
// faults with the recoveries of earlier ones, few enough to stay within
// the suite's time budget.
const chaosSteps = 8

// chaosFaults are the faults a chaos step picks from, by index (the
// switch in chaos). A seed replays a run of the same menu only: a longer
// menu draws other faults from it.
var chaosFaults = []string{"kill -9", "SIGTERM", "SIGSTOP", "isolate", "stall the links of", "slow link"}

// chaosLinkDelay is a slowed link's delay, each way: above the cluster's
// replica.lag.time.max.ms.
const chaosLinkDelay = 2 * time.Second

// Random faults, overlapping the recoveries of earlier ones: each step
// strikes one node (kill -9, SIGTERM, SIGSTOP, isolation, its links
// stalled, or one of its links slowed) for a random while. With one node
// down at a time the next step may strike while ISRs are still short
// from the previous; with two, the majority itself is lost for a while
// (no controller, no acks=all) and must come back. Writes may stall, but
// nothing acknowledged or read may change or vanish. FAULTTEST_SEED
// replays a run.
func TestChaos(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("FAULTTEST_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("FAULTTEST_SEED: %v", err)
		}
		seed = v
	}
	for _, maxDown := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d-down", maxDown), func(t *testing.T) {
			t.Logf("FAULTTEST_SEED=%d", seed)
			chaos(t, rand.New(rand.NewPCG(seed, uint64(maxDown))), maxDown)
		})
	}
}

// chaos runs chaosSteps random faults with at most maxDown nodes struck
// at once, then undoes them all and verifies.
func chaos(t *testing.T, rng *rand.Rand, maxDown int) {
	c, p, r := startLoaded(t)
	type fault struct {
		node int32
		undo func()
	}
	var active []fault
	undoOldest := func() {
		active[0].undo()
		active = active[1:]
	}
	for step := range chaosSteps {
		var candidates []int32
		for _, n := range c.Nodes {
			if !slices.ContainsFunc(active, func(f fault) bool { return f.node == n.ID }) {
				candidates = append(candidates, n.ID)
			}
		}
		n := candidates[rng.IntN(len(candidates))]
		hold := time.Duration(300+rng.IntN(1700)) * time.Millisecond
		kind := rng.IntN(len(chaosFaults))
		what := chaosFaults[kind]
		var undo func()
		switch kind {
		case 0:
			c.Kill9(n)
			undo = func() { c.Restart(n) }
		case 1:
			c.Term(n)
			undo = func() { c.Restart(n) }
		case 2:
			c.Stop(n)
			undo = func() { c.Cont(n) }
		case 3:
			c.Isolate(n)
			undo = func() { c.Heal(n) }
		case 4:
			c.StallNode(n)
			undo = func() { c.Heal(n) }
		case 5:
			// One of n's links, to a random peer, slower than
			// replica.lag.time.max.ms each way.
			peer := c.Nodes[rng.IntN(len(c.Nodes))].ID
			for peer == n {
				peer = c.Nodes[rng.IntN(len(c.Nodes))].ID
			}
			c.SlowLink(n, peer, chaosLinkDelay)
			what = fmt.Sprintf("slow link to node %d from", peer)
			undo = func() { c.Heal(n) }
		}
		active = append(active, fault{n, undo})
		t.Logf("step %d: %s node %d for %v (%v)", step, what, n, hold, p.History)
		// The fault lasts this long on purpose: this waits for no state.
		time.Sleep(hold)
		if len(active) >= maxDown || rng.IntN(2) == 0 {
			undoOldest()
		}
	}
	for len(active) > 0 {
		undoOldest()
	}
	c.WaitPartitions(60*time.Second, topic, "every replica back in every ISR after the chaos", FullISR)
	c.WaitAcks(p, topic, p.History.AckCount(), ackBatch, 30*time.Second, "after the chaos")
	verify(t, c, p, r)
}
