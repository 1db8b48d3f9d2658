package cli

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gregor-log/gregor/internal/clustertest"
	"github.com/gregor-log/gregor/internal/testbroker"
)

// cluster quorum shows the Raft quorum from any node: the leader, every
// voter with its lag and when the leader last heard from it; a single node
// has no quorum and says so.
func TestClusterQuorum(t *testing.T) {
	single := newHarness(t, testbroker.Start(t, nil).Addr)
	single.fails(exitFailure, "runs no metadata quorum", "cluster", "quorum")

	c := clustertest.Start(t, 3, nil)
	c.WaitForBrokers(t, 3)
	ctl := c.WaitForController(t)
	for _, n := range c.Live() { // through the leader and through the others
		out := newHarness(t, n.Addr).ok("", "cluster", "quorum")
		t.Logf("via node %d:\n%s", n.ID, out)
		if !strings.Contains(out, "LEADER          "+strconv.Itoa(int(ctl))+"\n") {
			t.Fatalf("via node %d: no leader %d in\n%s", n.ID, ctl, out)
		}
		rows := regexp.MustCompile(`(?m)^(\d+)\s+(leader|voter)\s+(\d+)\s+(\d+)\s+(\S+ ago)\s+(\S+ ago)$`).FindAllStringSubmatch(out, -1)
		if len(rows) != 3 {
			t.Fatalf("via node %d: want 3 voters, each heard from and caught up, in\n%s", n.ID, out)
		}
		for _, r := range rows {
			if (r[1] == strconv.Itoa(int(ctl))) != (r[2] == "leader") {
				t.Fatalf("via node %d: row %q has the wrong role", n.ID, r[0])
			}
		}
	}
}
