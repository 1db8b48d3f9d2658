package quorum

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gregor-log/gregor/internal/metadata"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

func entry(index, term uint64, data string) *pb.Entry {
	e := &pb.Entry{Index: new(index), Term: new(term), Type: pb.EntryNormal.Enum()}
	if data != "" {
		e.Data = []byte(data)
	}
	return e
}

func hardState(term, vote, commit uint64) *pb.HardState {
	return &pb.HardState{Term: new(term), Vote: new(vote), Commit: new(commit)}
}

// entryStrings renders entries as index/term/data for comparison.
func entryStrings(es []*pb.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, fmt.Sprintf("%d/%d/%s", e.GetIndex(), e.GetTerm(), e.GetData()))
	}
	return out
}

func TestReplayWAL(t *testing.T) {
	type step struct {
		entries []*pb.Entry
		hs      *pb.HardState
	}
	tests := []struct {
		name       string
		snap       uint64
		steps      []step
		want       []string
		wantCommit uint64
		wantErr    bool
	}{
		{name: "empty", snap: 1, want: nil},
		{name: "entries and hard states", snap: 1, steps: []step{
			{entries: []*pb.Entry{entry(2, 1, "a"), entry(3, 1, "b")}, hs: hardState(1, 1, 2)},
			{entries: []*pb.Entry{entry(4, 1, "")}, hs: hardState(1, 1, 4)},
		}, want: []string{"2/1/a", "3/1/b", "4/1/"}, wantCommit: 4},
		{name: "a new leader overwrites the tail", snap: 1, steps: []step{
			{entries: []*pb.Entry{entry(2, 1, "a"), entry(3, 1, "b"), entry(4, 1, "c")}},
			{entries: []*pb.Entry{entry(3, 2, "x")}, hs: hardState(2, 0, 3)},
		}, want: []string{"2/1/a", "3/2/x"}, wantCommit: 3},
		{name: "entries covered by the snapshot are ignored", snap: 10, steps: []step{
			{entries: []*pb.Entry{entry(9, 1, "old"), entry(10, 1, "old"), entry(11, 1, "a")}},
		}, want: []string{"11/1/a"}},
		{name: "a gap is corruption", snap: 1, steps: []step{
			{entries: []*pb.Entry{entry(2, 1, "a")}},
			{entries: []*pb.Entry{entry(4, 1, "c")}},
		}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := appendMarker(nil, tt.snap, 1)
			for _, s := range tt.steps {
				for _, e := range s.entries {
					b = appendEntry(b, e)
				}
				if s.hs != nil {
					b = appendHardState(b, s.hs)
				}
			}
			st, good, err := replayWAL(bytes.NewReader(b))
			if tt.wantErr {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("err %v, want ErrCorrupt", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if good != int64(len(b)) || st.snapIndex != tt.snap {
				t.Fatalf("good %d of %d, snapshot %d", good, len(b), st.snapIndex)
			}
			if got := entryStrings(st.entries); !slices.Equal(got, tt.want) {
				t.Fatalf("entries %v, want %v", got, tt.want)
			}
			if st.hardState.GetCommit() != tt.wantCommit {
				t.Fatalf("commit %d, want %d", st.hardState.GetCommit(), tt.wantCommit)
			}
		})
	}
}

func TestReplayWALNeedsItsMarker(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":           nil,
		"no marker":       appendEntry(nil, entry(2, 1, "a")),
		"two markers":     appendMarker(appendMarker(nil, 1, 1), 2, 1),
		"torn marker":     appendMarker(nil, 1, 1)[:5],
		"unknown type":    appendFrame(appendMarker(nil, 1, 1), 9, func(b []byte) []byte { return b }),
		"hard state tail": appendFrame(appendMarker(nil, 1, 1), walHardState, func(b []byte) []byte { return append(b, 1) }),
	} {
		if _, _, err := replayWAL(bytes.NewReader(b)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err %v, want ErrCorrupt", name, err)
		}
	}
}

// TestWALTornTail cuts the WAL at every byte of its last frames, and
// flips every byte of them, then reopens: every frame before the damage
// survives, and nothing after it.
func TestWALTornTail(t *testing.T) {
	dir := t.TempDir()
	w, err := rewriteWAL(dir, 1, 1, hardState(1, 0, 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	var ends []int64 // file size after each write
	for i := uint64(2); i <= 6; i++ {
		if err := w.append([]*pb.Entry{entry(i, 1, fmt.Sprintf("entry-%d", i))}, hardState(1, 0, i), true); err != nil {
			t.Fatal(err)
		}
		ends = append(ends, w.size)
	}
	w.close()
	path := filepath.Join(dir, walFileName)
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// entriesBefore is how many whole writes lie within the first n bytes.
	entriesBefore := func(n int64) int {
		k := 0
		for _, e := range ends {
			if e <= n {
				k++
			}
		}
		return k
	}
	check := func(t *testing.T, damaged []byte, intact int64) {
		if err := os.WriteFile(path, damaged, 0o644); err != nil {
			t.Fatal(err)
		}
		w, st, torn, err := openWAL(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer w.close()
		// A write is an entry frame then a hard state frame; a cut between
		// them keeps the entry, which was written but not committed.
		n := len(st.entries)
		if k := entriesBefore(intact); n < k || n > k+1 {
			t.Fatalf("%d entries survive %d intact bytes, want %d or %d", n, intact, k, k+1)
		}
		if st.hardState.GetCommit() > st.snapIndex+uint64(n) {
			t.Fatalf("commit %d beyond the log's %d entries", st.hardState.GetCommit(), n)
		}
		size, _ := os.Stat(path)
		if size.Size()+torn != int64(len(damaged)) || size.Size() > intact {
			t.Fatalf("file %d bytes after truncating %d of %d (intact %d)", size.Size(), torn, len(damaged), intact)
		}
	}
	from := ends[len(ends)-3]
	t.Run("cut", func(t *testing.T) {
		for cut := from; cut <= int64(len(full)); cut++ {
			check(t, full[:cut], cut)
		}
	})
	t.Run("flip", func(t *testing.T) {
		for i := from; i < int64(len(full)); i++ {
			damaged := slices.Clone(full)
			damaged[i] ^= 0x40
			check(t, damaged, i)
		}
	})
}

func TestSnapshotFileRoundTrip(t *testing.T) {
	img, err := metadata.Empty().Apply(&metadata.ClusterRecord{ClusterID: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	img, err = img.Apply(topic("a", 3)...)
	if err != nil {
		t.Fatal(err)
	}
	sm := stateMachine{image: img, addresses: map[uint64]string{1: "h1:1", 2: "h2:2", 7: "h7:7"}}
	snap := &pb.Snapshot{Data: encodeSnapshotData(sm), Metadata: &pb.SnapshotMetadata{Index: new(uint64(42)), Term: new(uint64(3)),
		ConfState: &pb.ConfState{Voters: []uint64{1, 2}, Learners: []uint64{7}, AutoLeave: new(false)}}}
	dir := t.TempDir()
	if err := writeSnapshotFile(dir, snap); err != nil {
		t.Fatal(err)
	}
	got, err := readSnapshotFile(dir, 42)
	if err != nil {
		t.Fatal(err)
	}
	if got.GetMetadata().GetTerm() != 3 || !slices.Equal(got.GetMetadata().GetConfState().GetLearners(), []uint64{7}) ||
		!bytes.Equal(got.GetData(), snap.GetData()) {
		t.Fatalf("read back %v", got)
	}
	back, err := decodeSnapshotData(got.GetData())
	if err != nil {
		t.Fatal(err)
	}
	if !sameImage(back.image, img) || len(back.addresses) != 3 || back.addresses[7] != "h7:7" {
		t.Fatalf("state machine %+v", back)
	}
	// A flipped bit anywhere is refused.
	raw := encodeSnapshotFile(snap)
	for i := range raw {
		damaged := slices.Clone(raw)
		damaged[i] ^= 1
		if _, err := decodeSnapshotFile(damaged); err == nil {
			t.Fatalf("flipped byte %d accepted", i)
		}
	}
}

// TestImageRecordsRebuild checks metadata.Image.Records and
// ImageFromRecords, which snapshots rely on.
func TestImageRecordsRebuild(t *testing.T) {
	v := "v"
	img := metadata.Empty()
	for _, batch := range [][]metadata.Record{
		{&metadata.ClusterRecord{ClusterID: "c1"}},
		{&metadata.BrokerRecord{NodeID: 2, Rack: "r2", Endpoints: []metadata.Endpoint{{Name: "PLAINTEXT", Host: "h", Port: 9}}},
			&metadata.BrokerRecord{NodeID: 10}},
		topic("b", 2),
		topic("a", 3),
		{&metadata.ConfigRecord{Resource: metadata.ConfigResourceBroker, ResourceName: "", Name: "x", Value: &v},
			&metadata.ConfigRecord{Resource: metadata.ConfigResourceBroker, ResourceName: "10", Name: "y", Value: &v},
			&metadata.ConfigRecord{Resource: metadata.ConfigResourceBroker, ResourceName: "2", Name: "y", Value: &v},
			&metadata.ConfigRecord{Resource: metadata.ConfigResourceTopic, ResourceName: "a", Name: "cleanup.policy", Value: &v},
			&metadata.ConfigRecord{Resource: metadata.ConfigResourceTopic, ResourceName: "a", Name: "retention.ms"}},
	} {
		var err error
		if img, err = img.Apply(batch...); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := img.Topic("b")
	img, err := img.Apply(&metadata.RemoveTopicRecord{ID: b.ID})
	if err != nil {
		t.Fatal(err)
	}
	records := img.Records()
	back, err := metadata.ImageFromRecords(img.Offset, records)
	if err != nil {
		t.Fatal(err)
	}
	if !sameImage(back, img) {
		t.Fatal("rebuilt image differs")
	}
	a, _ := back.Topic("a")
	if len(a.Partitions) != 3 || a.Configs["cleanup.policy"] != "v" || a.Configs["retention.ms"] != "" ||
		back.BrokerConfigs("10")["y"] != "v" || back.NumTopics() != 1 || back.ClusterID != "c1" {
		t.Fatalf("rebuilt image: topic %+v", a)
	}
	if _, err := metadata.ImageFromRecords(1, records); !errors.Is(err, metadata.ErrInvalidRecord) {
		t.Fatalf("offset below the record count: %v", err)
	}
}

// TestStorageSnapshotCompaction drives storage directly: a snapshot
// rewrites the WAL after it and survives a reopen with the entries after.
func TestStorageSnapshotCompaction(t *testing.T) {
	dir := t.TempDir()
	boot := func() *pb.Snapshot {
		return &pb.Snapshot{Data: encodeSnapshotData(stateMachine{image: metadata.Empty(), addresses: map[uint64]string{1: ""}}),
			Metadata: &pb.SnapshotMetadata{Index: new(uint64(1)), Term: new(uint64(1)), ConfState: &pb.ConfState{Voters: []uint64{1}}}}
	}
	s, ld, err := openStorage(dir, boot)
	if err != nil {
		t.Fatal(err)
	}
	if !ld.fresh || ld.lastIndex != 1 {
		t.Fatalf("fresh open: %+v", ld)
	}
	var entries []*pb.Entry
	for i := uint64(2); i <= 20; i++ {
		entries = append(entries, entry(i, 2, fmt.Sprint(i)))
	}
	rd := raft.Ready{Entries: entries, HardState: hardState(2, 1, 20), MustSync: true}
	if err := s.save(&rd); err != nil {
		t.Fatal(err)
	}
	data := encodeSnapshotData(stateMachine{image: metadata.Empty(), addresses: map[uint64]string{1: ""}})
	if err := s.snapshot(15, &pb.ConfState{Voters: []uint64{1}}, data, 3); err != nil {
		t.Fatal(err)
	}
	if first, _ := s.mem.FirstIndex(); first != 13 {
		t.Fatalf("first index %d after compacting with 3 catch-up entries", first)
	}
	s.close()

	s, ld, err = openStorage(dir, boot)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if ld.fresh || ld.snapshot.GetMetadata().GetIndex() != 15 || ld.lastIndex != 20 || ld.hardState.GetCommit() != 20 {
		t.Fatalf("reopened: snapshot %d, last %d, commit %d", ld.snapshot.GetMetadata().GetIndex(), ld.lastIndex, ld.hardState.GetCommit())
	}
	got, err := s.mem.Entries(16, 21, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"16/2/16", "17/2/17", "18/2/18", "19/2/19", "20/2/20"}; !slices.Equal(entryStrings(got), want) {
		t.Fatalf("entries %v", entryStrings(got))
	}
	des, _ := os.ReadDir(dir)
	if len(des) != 2 {
		t.Fatalf("directory holds %d files", len(des))
	}
}

// TestNodeTornTail kills nothing but does what kill -9 leaves: the WAL cut
// inside its last frame. The node reopens with every whole entry.
func TestNodeTornTail(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{NodeID: 0, Dir: dir, TickInterval: testTick, Logger: testLogger(t)}
	n, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		mustAppend(t, n, topic(fmt.Sprint(i), 1)...)
	}
	n.Close()
	path := filepath.Join(dir, walFileName)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// The last frame is a HardState (commit); cutting into it leaves the
	// last entry uncommitted but durable: the reopened leader commits it.
	if err := os.Truncate(path, fi.Size()-3); err != nil {
		t.Fatal(err)
	}
	n, err = Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	eventually(t, "five topics", func() bool { return n.Image().NumTopics() == 5 })
	mustAppend(t, n, topic("after", 1)...)
}
