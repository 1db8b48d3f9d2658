package faulttest

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"
)

// chaosSteps is how many faults TestChaos injects: enough to overlap
// faults with the recoveries of earlier ones, few enough to stay within
// the suite's time budget.
const chaosSteps = 8

// Faults one after another without waiting for the cluster to recover
// in between: each step strikes one node (kill -9, SIGTERM, SIGSTOP or
// isolation), keeps the fault for a random while, and undoes it; the
// next step may strike while ISRs are still short from the previous.
// Writes may stall (a partition whose only in-sync replica is down waits
// for it), but nothing acknowledged or read may change or vanish.
// FAULTTEST_SEED replays a run.
func TestChaos(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("FAULTTEST_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("FAULTTEST_SEED: %v", err)
		}
		seed = v
	}
	t.Logf("FAULTTEST_SEED=%d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))

	c, p, r := startLoaded(t)
	for step := range chaosSteps {
		n := c.Nodes[rng.IntN(len(c.Nodes))].ID
		hold := time.Duration(300+rng.IntN(1700)) * time.Millisecond
		kind := rng.IntN(4)
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
		}
		t.Logf("step %d: %s node %d for %v (%v)", step, []string{"kill -9", "SIGTERM", "SIGSTOP", "isolate"}[kind], n, hold, p.History)
		// The fault lasts this long on purpose: this waits for no state.
		time.Sleep(hold)
		undo()
	}
	c.WaitPartitions(60*time.Second, topic, "every replica back in every ISR after the chaos", FullISR)
	c.WaitAcks(p, topic, p.History.AckCount(), ackBatch, 30*time.Second, fmt.Sprintf("after the chaos (seed %d)", seed))
	verify(t, c, p, r)
}
