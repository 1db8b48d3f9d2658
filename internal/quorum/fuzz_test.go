package quorum

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/gregor-log/gregor/internal/metadata"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Fuzz targets for every decoder of bytes from disk or the network. Their
// seeds run in every `go test`; `go test -fuzz FuzzX` explores further.

func walSeed() []byte {
	b := appendMarker(nil, 1, 1)
	b = appendEntry(b, entry(2, 1, "a"))
	b = appendEntry(b, entry(3, 1, ""))
	b = appendHardState(b, hardState(1, 1, 3))
	return appendEntry(b, entry(3, 2, "b"))
}

func FuzzReplayWAL(f *testing.F) {
	seed := walSeed()
	f.Add(seed)
	f.Add(seed[:len(seed)-2])
	f.Add(appendMarker(nil, 5, 2))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		st, good, err := replayWAL(bytes.NewReader(b))
		if err != nil {
			return
		}
		if good <= 0 || good > int64(len(b)) {
			t.Fatalf("valid prefix %d of %d bytes", good, len(b))
		}
		for i, e := range st.entries {
			if e.GetIndex() != st.snapIndex+1+uint64(i) {
				t.Fatalf("entry %d at position %d after snapshot %d", e.GetIndex(), i, st.snapIndex)
			}
		}
		// Re-encoding the state replays to the same state.
		again, _, err := replayWAL(bytes.NewReader(rewriteBytes(st)))
		if err != nil || len(again.entries) != len(st.entries) || again.hardState.GetCommit() != st.hardState.GetCommit() {
			t.Fatalf("re-encoded state differs: %v", err)
		}
	})
}

func rewriteBytes(st walState) []byte {
	b := appendMarker(nil, st.snapIndex, st.snapTerm)
	if st.hardState != nil {
		b = appendHardState(b, st.hardState)
	}
	for _, e := range st.entries {
		b = appendEntry(b, e)
	}
	return b
}

func FuzzDecodeWALRecord(f *testing.F) {
	for _, frame := range [][]byte{appendMarker(nil, 1, 1), appendEntry(nil, entry(7, 3, "xyz")), appendHardState(nil, hardState(4, 2, 9))} {
		f.Add(frame[frameHeaderBytes:])
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		rec, err := decodeWALRecord(p)
		if err != nil {
			return
		}
		if rec.typ == walEntry && (rec.entry == nil || rec.entry.GetIndex() == 0) {
			t.Fatalf("entry record %+v", rec)
		}
	})
}

func snapshotSeed() *pb.Snapshot {
	img, _ := metadata.Empty().Apply(&metadata.ClusterRecord{ClusterID: "c1"})
	img, _ = img.Apply(topic("a", 2)...)
	return &pb.Snapshot{
		Data: encodeSnapshotData(stateMachine{image: img, addresses: map[uint64]string{1: "a:1", 2: "b:2"}}),
		Metadata: &pb.SnapshotMetadata{Index: new(uint64(9)), Term: new(uint64(2)),
			ConfState: &pb.ConfState{Voters: []uint64{1}, Learners: []uint64{2}, AutoLeave: new(false)}},
	}
}

func FuzzDecodeSnapshotFile(f *testing.F) {
	raw := encodeSnapshotFile(snapshotSeed())
	f.Add(raw)
	f.Add(raw[:20])
	f.Fuzz(func(t *testing.T, b []byte) {
		snap, err := decodeSnapshotFile(b)
		if err != nil {
			return
		}
		again, err := decodeSnapshotFile(encodeSnapshotFile(snap))
		if err != nil || !proto.Equal(again, snap) {
			t.Fatalf("a snapshot file does not round-trip: %v", err)
		}
	})
}

func FuzzDecodeSnapshotData(f *testing.F) {
	data := snapshotSeed().GetData()
	f.Add(data)
	f.Add(data[:5])
	f.Add(encodeSnapshotData(stateMachine{image: metadata.Empty(), addresses: map[uint64]string{}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		sm, err := decodeSnapshotData(b)
		if err != nil {
			return
		}
		back, err := decodeSnapshotData(encodeSnapshotData(sm))
		if err != nil || !sameImage(back.image, sm.image) || len(back.addresses) != len(sm.addresses) {
			t.Fatalf("snapshot data does not round-trip: %v", err)
		}
	})
}

func FuzzDecodeEntry(f *testing.F) {
	batch := metadata.EncodeBatch(topic("a", 1))
	f.Add(encodeEntryData(tag{proposer: 1, id: 7}, batch))
	cc, _ := proto.Marshal(&pb.ConfChange{Type: pb.ConfChangeAddLearnerNode.Enum(), NodeId: new(uint64(4)), Id: new(uint64(3)),
		Context: encodeConfContext(1, "h:1")})
	f.Add(cc)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, typ := range []pb.EntryType{pb.EntryNormal, pb.EntryConfChange} {
			entryTag(&pb.Entry{Index: new(uint64(1)), Term: new(uint64(1)), Type: typ.Enum(), Data: data})
		}
		if tg, b, err := decodeEntryData(data); err == nil {
			tg2, b2, err := decodeEntryData(encodeEntryData(tg, b))
			if err != nil || tg2 != tg || !bytes.Equal(b2, b) {
				t.Fatalf("entry data does not round-trip: %v", err)
			}
		}
		decodeConfContext(data)
	})
}

// FuzzReadMessages feeds a connection's bytes after the hello to the
// frame reader and the incoming checks: nothing may panic, and only
// messages from the dialer to us of a network type get through.
func FuzzReadMessages(f *testing.F) {
	frame := func(m *pb.Message) []byte {
		b, _ := proto.Marshal(m)
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
	}
	ok := frame(&pb.Message{Type: pb.MsgHeartbeat.Enum(), From: new(uint64(2)), To: new(uint64(1)), Term: new(uint64(3))})
	app := frame(&pb.Message{Type: pb.MsgApp.Enum(), From: new(uint64(2)), To: new(uint64(1)), Term: new(uint64(3)),
		Entries: []*pb.Entry{entry(5, 3, "x")}})
	local := frame(&pb.Message{Type: pb.MsgHup.Enum(), From: new(uint64(2)), To: new(uint64(1))})
	f.Add(append(ok, app...))
	f.Add(local)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		readMessages(bytes.NewReader(b), func(m *pb.Message) error {
			if err := checkIncoming(m, 2, 1); err != nil {
				return err
			}
			if m.GetFrom() != 2 || m.GetTo() != 1 || !networkTypes[m.GetType()] {
				t.Fatalf("accepted %v", m)
			}
			return nil
		})
		if len(b) >= helloBytes {
			decodeHello(b[:helloBytes])
		}
	})
}
