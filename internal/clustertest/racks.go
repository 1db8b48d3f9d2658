package clustertest

import (
	"fmt"
	"testing"
	"time"
)

// SetRacks gives node i+1 the rack racks[i] (broker.rack; "" for none) and
// waits until every node's image shows each broker registered with its
// rack and unfenced. Start gives every node the same configs, so the
// nodes are closed and restarted on their data with the rack set: call it
// right after Start, before the test's own work.
func (c *Cluster) SetRacks(t testing.TB, racks ...string) {
	t.Helper()
	if len(racks) != len(c.Nodes) {
		t.Fatalf("clustertest: %d racks for %d nodes", len(racks), len(c.Nodes))
	}
	// All are closed first, so their re-registrations wait out the old
	// sessions (broker.session.timeout.ms) together, not one after another.
	for _, n := range c.Nodes {
		n.Close()
	}
	for i, n := range c.Nodes {
		n.overrides["broker.rack"] = racks[i]
		n.Restart(t)
	}
	WaitFor(t, 30*time.Second, fmt.Sprintf("brokers registered with racks %q", racks), func() bool {
		for _, node := range c.Nodes {
			img := node.MetadataImage()
			for i, want := range c.Nodes {
				b, ok := img.Broker(want.ID)
				if !ok || b.Fenced || b.Rack != racks[i] {
					return false
				}
			}
		}
		return true
	})
}
