package quorum

import (
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/metadata"
)

// The leader learns each voter's last response and caught-up time; a
// stopped follower's times stay where they were while the others' move
// on. Only values are compared, never durations.
func TestContactTimes(t *testing.T) {
	c := newCluster(t, 3, 0, nil)
	c.startAll()
	lead := c.leader()
	for _, n := range c.running() {
		if n != lead {
			if st := n.Status(); st.LastContact != nil || st.CaughtUp != nil {
				t.Fatalf("follower %d reports contact times %v %v", n.NodeID(), st.LastContact, st.CaughtUp)
			}
		}
	}
	before := time.Now()
	mustAppend(t, lead, &metadata.ClusterRecord{ClusterID: "c1"})
	eventually(t, "every voter heard from and caught up after the append", func() bool {
		st := lead.Status()
		for id := range int32(3) {
			if st.LastContact[id].Before(before) || st.CaughtUp[id].Before(before) {
				return false
			}
		}
		return true
	})
	st := lead.Status()
	if st.LastContact[lead.NodeID()].Before(st.LastContact[(lead.NodeID()+1)%3]) {
		t.Fatalf("leader's own time %v is before a follower's %v", st.LastContact[lead.NodeID()], st.LastContact)
	}
	for id := range int32(3) {
		if st.CaughtUp[id].After(st.LastContact[id]) {
			t.Fatalf("node %d caught up at %v, after its last contact %v", id, st.CaughtUp[id], st.LastContact[id])
		}
	}

	stopped, live := (lead.NodeID()+1)%3, (lead.NodeID()+2)%3
	c.stop(stopped)
	// Committing needs the live follower; once it is committed, the
	// stopped one can no longer be caught up.
	mustAppend(t, lead, topic("a", 1)...)
	old := lead.Status()
	mustAppend(t, lead, topic("b", 1)...)
	var now Status
	eventually(t, "the live follower caught up after the stop", func() bool {
		now = lead.Status()
		return now.CaughtUp[live].After(old.CaughtUp[live]) && now.CaughtUp[live].After(old.CaughtUp[stopped])
	})
	if !now.CaughtUp[stopped].Equal(old.CaughtUp[stopped]) || !now.LastContact[stopped].Equal(old.LastContact[stopped]) {
		t.Fatalf("stopped node %d: caught up %v → %v, last contact %v → %v", stopped,
			old.CaughtUp[stopped], now.CaughtUp[stopped], old.LastContact[stopped], now.LastContact[stopped])
	}
	if !now.LastContact[live].After(now.LastContact[stopped]) {
		t.Fatalf("live node %d last contact %v, not after the stopped node's %v", live, now.LastContact[live], now.LastContact[stopped])
	}
}
