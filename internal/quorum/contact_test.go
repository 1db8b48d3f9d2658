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

// observe applies Kafka's caught-up rule to a sequence of responses.
func TestPeerContactObserve(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	type response struct {
		match, end uint64
		at         int
	}
	for _, tc := range []struct {
		name      string
		responses []response
		caughtUp  int // seconds after t0; -1 for never
	}{
		{"first response at the log end", []response{{5, 5, 1}}, 1},
		{"first response behind", []response{{3, 5, 1}}, -1},
		{"reaches the end the leader had at its previous response", []response{{3, 5, 1}, {5, 8, 2}}, 1},
		{"still behind that end", []response{{3, 5, 1}, {4, 8, 2}}, -1},
		{"at the end, then behind a moving end", []response{{5, 5, 1}, {7, 9, 2}, {8, 12, 3}}, 1},
		{"lagging follower catches up", []response{{1, 5, 1}, {4, 9, 2}, {9, 12, 3}, {12, 12, 4}}, 4},
		{"heartbeats at the end", []response{{5, 5, 1}, {5, 5, 2}, {5, 5, 3}}, 3},
		{"previous end reached later only moves forward", []response{{5, 5, 3}, {6, 7, 4}, {7, 9, 5}}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p peerContact
			for _, r := range tc.responses {
				p.observe(r.match, r.end, at(r.at))
			}
			last := tc.responses[len(tc.responses)-1]
			if !p.last.Equal(at(last.at)) || p.lastEnd != last.end {
				t.Fatalf("last %v end %d, want %v %d", p.last, p.lastEnd, at(last.at), last.end)
			}
			switch {
			case tc.caughtUp < 0 && !p.caughtUp.IsZero():
				t.Fatalf("caught up at %v, want never", p.caughtUp)
			case tc.caughtUp >= 0 && !p.caughtUp.Equal(at(tc.caughtUp)):
				t.Fatalf("caught up at %v, want %v", p.caughtUp, at(tc.caughtUp))
			}
		})
	}
}
