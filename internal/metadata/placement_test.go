package metadata

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
)

func placementBrokers(racks ...string) []PlacementBroker {
	out := make([]PlacementBroker, len(racks))
	for i, r := range racks {
		out[i] = PlacementBroker{NodeID: int32(i + 1), Rack: r}
	}
	return out
}

// spread returns the min and max of counts over brokers.
func spread(brokers []PlacementBroker, counts map[int32]int) (int, int) {
	lo, hi := -1, 0
	for _, b := range brokers {
		c := counts[b.NodeID]
		if lo < 0 || c < lo {
			lo = c
		}
		hi = max(hi, c)
	}
	return lo, hi
}

func TestPlacementBalance(t *testing.T) {
	for _, tc := range []struct {
		racks          []string
		partitions, rf int
	}{
		{[]string{"", "", "", "", ""}, 20, 3},
		{[]string{"", "", ""}, 7, 3},
		{[]string{"", "", "", ""}, 12, 2},
		{[]string{"a", "a", "b", "b", "c", "c"}, 30, 3},
		{[]string{"a", "b", "c", "a", "b", "c"}, 12, 2},
		{[]string{""}, 5, 1},
	} {
		brokers := placementBrokers(tc.racks...)
		n := len(brokers)
		for start := range n {
			name := fmt.Sprintf("%v/p%d/rf%d/start%d", tc.racks, tc.partitions, tc.rf, start)
			t.Run(name, func(t *testing.T) {
				pl := Placement{Start: start, Shift: start * 7}
				got, err := pl.Place(brokers, 0, tc.partitions, tc.rf)
				if err != nil {
					t.Fatal(err)
				}
				again, _ := pl.Place(brokers, 0, tc.partitions, tc.rf)
				if !reflect.DeepEqual(got, again) {
					t.Fatalf("not deterministic")
				}
				leaders, replicas := map[int32]int{}, map[int32]int{}
				for _, rs := range got {
					if len(rs) != tc.rf || hasDuplicate(rs) {
						t.Fatalf("replicas %v", rs)
					}
					leaders[rs[0]]++
					for _, r := range rs {
						replicas[r]++
					}
				}
				// Leaders: as even as the count allows.
				if lo, hi := spread(brokers, leaders); hi-lo > 1 {
					t.Fatalf("leaders spread %d..%d: %v", lo, hi, got)
				}
				// Replicas: every broker within a replica or two of the mean.
				mean := tc.partitions * tc.rf / n
				if lo, hi := spread(brokers, replicas); lo < mean-1 || hi > mean+2 {
					t.Fatalf("replicas spread %d..%d around %d: %v", lo, hi, mean, got)
				}
			})
		}
	}
}

func TestPlacementRacks(t *testing.T) {
	for _, tc := range []struct {
		racks     []string
		rf        int
		wantRacks int // distinct racks in every partition
	}{
		{[]string{"a", "a", "b", "b", "c", "c"}, 3, 3},
		{[]string{"a", "a", "b", "b", "c", "c"}, 2, 2},
		{[]string{"a", "a", "b", "b", "c", "c"}, 4, 3},
		{[]string{"a", "a", "a", "b"}, 2, 2}, // broker 4 is in every partition
		{[]string{"x", "y"}, 2, 2},
		{[]string{"a", "a", "a", "b", "b", "c"}, 3, 3},
	} {
		brokers := placementBrokers(tc.racks...)
		rackOf := map[int32]string{}
		for _, b := range brokers {
			rackOf[b.NodeID] = b.Rack
		}
		for start := range len(brokers) {
			for shift := range 3 {
				got, err := Placement{Start: start, Shift: shift}.Place(brokers, 3, 24, tc.rf)
				if err != nil {
					t.Fatal(err)
				}
				for _, rs := range got {
					racks := map[string]bool{}
					for _, r := range rs {
						racks[rackOf[r]] = true
					}
					if len(racks) != tc.wantRacks || len(rs) != tc.rf || hasDuplicate(rs) {
						t.Fatalf("racks %v rf %d start %d: partition %v spans %d racks, want %d", tc.racks, tc.rf, start, rs, len(racks), tc.wantRacks)
					}
				}
			}
		}
	}
}

func TestPlacementRackAlternation(t *testing.T) {
	got := rackAlternated(placementBrokers("b", "a", "a", "c", "b", "a"))
	var ids []int32
	for _, b := range got {
		ids = append(ids, b.NodeID)
	}
	// Racks a (2 3 6), b (1 5), c (4): a b c a b a.
	if want := []int32{2, 1, 4, 3, 5, 6}; !slices.Equal(ids, want) {
		t.Fatalf("order %v, want %v", ids, want)
	}
}

func TestPlacementErrors(t *testing.T) {
	brokers := placementBrokers("", "")
	for _, tc := range []struct {
		brokers          []PlacementBroker
		first, count, rf int
	}{
		{brokers, 0, 1, 3},
		{brokers, 0, 1, 0},
		{nil, 0, 1, 1},
		{brokers, -1, 1, 1},
		{append(placementBrokers("a"), PlacementBroker{NodeID: 1, Rack: "b"}), 0, 1, 1},
	} {
		if got, err := (Placement{Start: -5, Shift: -3}).Place(tc.brokers, tc.first, tc.count, tc.rf); err == nil {
			t.Errorf("Place(%v, %d, %d, %d) = %v, want an error", tc.brokers, tc.first, tc.count, tc.rf, got)
		}
	}
	// Negative start and shift are fine.
	if _, err := (Placement{Start: -5, Shift: -3}).Place(brokers, 0, 4, 2); err != nil {
		t.Fatal(err)
	}
}
