package group

import (
	"fmt"
	"testing"
)

// BenchmarkCoordinatorRebalance measures the coordinator's own work for a
// whole rebalance of a fresh group of N members, with no network: the
// classic protocol's two join rounds and sync round, and KIP-848 joins
// plus heartbeat rounds until the group is stable. The clock is simulated,
// so the initial rebalance delay costs nothing here.
//
//	go test ./internal/group -run '^$' -bench BenchmarkCoordinatorRebalance
func BenchmarkCoordinatorRebalance(b *testing.B) {
	for _, n := range []int{1, 10, 100, 1000} {
		b.Run(fmt.Sprintf("classic/members=%d", n), func(b *testing.B) {
			for range b.N {
				h := newHarness(b, testConfig())
				stableGroup(h, "g", n, joinOpts{})
			}
		})
		b.Run(fmt.Sprintf("kip848/members=%d", n), func(b *testing.B) {
			for range b.N {
				h := newHarness(b, testConfig())
				h.c.SetTopics(h.now, topicT(int32(2*n)))
				fcs := make([]*fakeConsumer, n)
				for i := range fcs {
					fcs[i] = newFake(fmt.Sprintf("m%04d", i), "t")
					h.cgh("g", fcs[i], true)
				}
				for round := 0; h.state("g") != "Stable"; round++ {
					if round == 10 {
						b.Fatal("not stable after 10 rounds")
					}
					for _, fc := range fcs {
						h.cgh("g", fc, true)
					}
				}
			}
		})
	}
}
