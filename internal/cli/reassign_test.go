package cli

import (
	"strings"
	"testing"

	"github.com/gregor-log/gregor/internal/testbroker"
)

// On a single node the only target is the node itself; the commands
// still run end to end, and their usage errors come before any request.
func TestTopicReassign(t *testing.T) {
	h := newHarness(t, testbroker.Start(t, nil).Addr)
	h.ok("", "topic", "create", "solo", "-p", "2")
	if out := h.ok("", "topic", "reassign", "solo", "-P", "0,1", "--replicas", "1"); out != "PARTITION  STATUS\n0          OK\n1          OK\n" {
		t.Fatalf("reassign output:\n%s", out)
	}
	r := h.fails(exitFailure, "solo-0: INVALID_REPLICA_ASSIGNMENT", "topic", "reassign", "solo", "--partition", "0", "--replicas", "1,2")
	if !strings.Contains(r.stdout, "broker 2, which is not registered") {
		t.Fatalf("no broker message in %q", r.stdout)
	}
	h.fails(exitFailure, "NO_REASSIGNMENT_IN_PROGRESS", "topic", "reassign", "solo", "-P", "1", "--cancel")
	h.fails(exitUsage, "give the partitions to move with --partition", "topic", "reassign", "solo", "--replicas", "1")
	h.fails(exitUsage, "give either --replicas or --cancel", "topic", "reassign", "solo", "-P", "0", "--replicas", "1", "--cancel")
	h.fails(exitUsage, "give either --replicas or --cancel", "topic", "reassign", "solo", "-P", "0")
	if out := h.ok("", "topic", "reassignments"); out != "TOPIC  PARTITION  REPLICAS  ADDING  REMOVING\n" {
		t.Fatalf("reassignments:\n%s", out)
	}
	h.fails(exitFailure, `topic "nope"`, "topic", "reassignments", "nope")
}
