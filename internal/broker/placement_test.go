package broker

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/gregor-log/gregor/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
)

// sixBrokersThreeRacks is brokers 1..6, two in each of racks a, b and c,
// numbered so that racks and ids do not line up.
func sixBrokersThreeRacks() []metadata.PlacementBroker {
	return []metadata.PlacementBroker{
		{NodeID: 1, Rack: "a"}, {NodeID: 2, Rack: "a"}, {NodeID: 3, Rack: "b"},
		{NodeID: 4, Rack: "c"}, {NodeID: 5, Rack: "b"}, {NodeID: 6, Rack: "c"},
	}
}

// checkSpread checks that every partition has rf distinct replicas over
// min(rf, racks) racks and that each broker leads partitions/brokers of
// them (the preferred leader being replicas[0]).
func checkSpread(t *testing.T, brokers []metadata.PlacementBroker, assignment [][]int32, rf int) {
	t.Helper()
	rack := map[int32]string{}
	racks := map[string]bool{}
	for _, b := range brokers {
		rack[b.NodeID] = b.Rack
		racks[b.Rack] = true
	}
	leads := map[int32]int{}
	for p, replicas := range assignment {
		if len(replicas) != rf {
			t.Fatalf("partition %d: replicas %v, want %d", p, replicas, rf)
		}
		spanned := map[string]bool{}
		for i, id := range replicas {
			if _, ok := rack[id]; !ok {
				t.Fatalf("partition %d: replicas %v name broker %d, not placeable", p, replicas, id)
			}
			if slices.Contains(replicas[:i], id) {
				t.Fatalf("partition %d: replicas %v repeat broker %d", p, replicas, id)
			}
			spanned[rack[id]] = true
		}
		if want := min(rf, len(racks)); len(spanned) != want {
			t.Errorf("partition %d: replicas %v span %d racks, want %d", p, replicas, len(spanned), want)
		}
		leads[replicas[0]]++
	}
	if len(assignment)%len(brokers) != 0 {
		return
	}
	for _, b := range brokers {
		if want := len(assignment) / len(brokers); leads[b.NodeID] != want {
			t.Errorf("broker %d is the preferred leader of %d partitions, want %d: %v", b.NodeID, leads[b.NodeID], want, assignment)
		}
	}
}

func TestAssignReplicasSpreadsOverRacks(t *testing.T) {
	tests := []struct {
		name       string
		brokers    []metadata.PlacementBroker
		partitions int32
		rf         int16
	}{
		{"6 brokers in 3 racks, rf 3", sixBrokersThreeRacks(), 12, 3},
		{"6 brokers in 3 racks, rf 2", sixBrokersThreeRacks(), 6, 2},
		{"6 brokers in 3 racks, rf 6", sixBrokersThreeRacks(), 6, 6},
		{"3 brokers, 2 racks, rf 2", []metadata.PlacementBroker{{NodeID: 1, Rack: "a"}, {NodeID: 2, Rack: "a"}, {NodeID: 3, Rack: "b"}}, 9, 2},
		{"3 brokers without racks, rf 3", []metadata.PlacementBroker{{NodeID: 1}, {NodeID: 2}, {NodeID: 3}}, 3, 3},
		{"a single node", []metadata.PlacementBroker{{NodeID: 7}}, 4, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Start and Shift are random: every draw must hold.
			for range 30 {
				got, aerr := assignReplicas(tt.brokers, randomPlacement(len(tt.brokers)), 0, tt.partitions, tt.rf)
				if aerr != nil {
					t.Fatalf("assignReplicas: %s", aerr.msg)
				}
				if len(got) != int(tt.partitions) {
					t.Fatalf("%d partitions placed, want %d", len(got), tt.partitions)
				}
				checkSpread(t, tt.brokers, got, int(tt.rf))
			}
		})
	}
}

func TestAssignReplicasSingleNode(t *testing.T) {
	got, aerr := assignReplicas([]metadata.PlacementBroker{{NodeID: 1}}, randomPlacement(1), 0, 3, 1)
	if aerr != nil {
		t.Fatal(aerr.msg)
	}
	if fmt.Sprint(got) != "[[1] [1] [1]]" {
		t.Errorf("single node: %v, want every partition on [1]", got)
	}
}

func TestAssignReplicasRefusesTooFewBrokers(t *testing.T) {
	_, aerr := assignReplicas(sixBrokersThreeRacks()[:2], randomPlacement(2), 0, 3, 3)
	if aerr == nil || !errors.Is(aerr.err, kerr.InvalidReplicationFactor) {
		t.Fatalf("rf 3 over 2 brokers: %v, want INVALID_REPLICATION_FACTOR", aerr)
	}
}

// Partitions added to a topic continue its leaders' pattern: together with
// the original ones they are spread as if the topic had been created with
// all of them, and each spans every rack it can.
func TestContinuedPlacement(t *testing.T) {
	brokers := sixBrokersThreeRacks()
	for range 30 {
		first, aerr := assignReplicas(brokers, randomPlacement(len(brokers)), 0, 3, 3)
		if aerr != nil {
			t.Fatal(aerr.msg)
		}
		added, aerr := assignReplicas(brokers, continuedPlacement(brokers, first[0][0]), 3, 9, 3)
		if aerr != nil {
			t.Fatal(aerr.msg)
		}
		all := append(first, added...)
		checkSpread(t, brokers, all, 3)
		// Leaders repeat with the period of the broker order.
		for p := len(brokers); p < len(all); p++ {
			if all[p][0] != all[p-len(brokers)][0] {
				t.Fatalf("partition %d led by %d, partition %d by %d: %v", p, all[p][0], p-len(brokers), all[p-len(brokers)][0], all)
			}
		}
	}
	// Partition 0's leader gone: no pattern left, the placement is still sound.
	added, aerr := assignReplicas(brokers, continuedPlacement(brokers, 99), 1, 6, 3)
	if aerr != nil {
		t.Fatal(aerr.msg)
	}
	checkSpread(t, brokers, added, 3)
}
