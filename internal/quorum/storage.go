package quorum

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

// storage is the node's durable Raft state: the WAL and the current
// snapshot file on disk, mirrored in a raft.MemoryStorage that raft reads.
// Only the Ready loop's goroutine calls its methods (MemoryStorage locks
// for itself, since raft's reads happen on that goroutine too).
//
// Invariants:
//   - mem holds exactly what is durable (or about to be, within one save):
//     the snapshot named by the WAL's marker, then the WAL's entries, and
//     the last HardState written.
//   - snapIndex is the index of the snapshot file on disk and of the WAL's
//     marker; older snapshot files are removed.
type storage struct {
	dir       string
	mem       *raft.MemoryStorage
	wal       *wal
	hardState *pb.HardState // last written; never nil after open
	snapIndex uint64
}

// loaded is what openStorage recovered, for the node to start from.
type loaded struct {
	snapshot  *pb.Snapshot
	hardState *pb.HardState
	lastIndex uint64
	tornBytes int64
	fresh     bool // a new directory, bootstrapped
}

// openStorage opens the Raft state in dir, bootstrapping it from
// bootstrap() (the initial snapshot) when dir holds none.
func openStorage(dir string, bootstrap func() *pb.Snapshot) (*storage, loaded, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, loaded{}, fmt.Errorf("quorum: %w", err)
	}
	if err := removeTemporaries(dir); err != nil {
		return nil, loaded{}, err
	}
	s := &storage{dir: dir, mem: raft.NewMemoryStorage()}
	var ld loaded
	var entries []*pb.Entry
	_, err := os.Stat(filepath.Join(dir, walFileName))
	switch {
	case errors.Is(err, os.ErrNotExist):
		// A new node. A crash before the WAL exists leaves at most a
		// snapshot file, which the next attempt overwrites.
		snap := bootstrap()
		if err := writeSnapshotFile(dir, snap); err != nil {
			return nil, loaded{}, err
		}
		md := snap.GetMetadata()
		hs := &pb.HardState{Term: new(md.GetTerm()), Vote: new(uint64(0)), Commit: new(md.GetIndex())}
		w, err := rewriteWAL(dir, md.GetIndex(), md.GetTerm(), hs, nil)
		if err != nil {
			return nil, loaded{}, err
		}
		s.wal, s.hardState, s.snapIndex = w, hs, md.GetIndex()
		ld = loaded{snapshot: snap, hardState: hs, lastIndex: md.GetIndex(), fresh: true}
	case err != nil:
		return nil, loaded{}, fmt.Errorf("quorum: %w", err)
	default:
		w, st, torn, err := openWAL(dir)
		if err != nil {
			return nil, loaded{}, err
		}
		snap, err := readSnapshotFile(dir, st.snapIndex)
		if err != nil {
			w.close()
			return nil, loaded{}, err
		}
		if snap.GetMetadata().GetTerm() != st.snapTerm {
			w.close()
			return nil, loaded{}, fmt.Errorf("quorum: %w: snapshot %d has term %d, the WAL says %d",
				ErrCorrupt, st.snapIndex, snap.GetMetadata().GetTerm(), st.snapTerm)
		}
		hs := st.hardState
		if hs == nil {
			hs = &pb.HardState{Term: new(st.snapTerm), Vote: new(uint64(0)), Commit: new(st.snapIndex)}
		}
		last := st.snapIndex + uint64(len(st.entries))
		// raft panics on a HardState that does not fit the log; from disk
		// that is corruption, refused here.
		if hs.GetCommit() < st.snapIndex || hs.GetCommit() > last {
			w.close()
			return nil, loaded{}, fmt.Errorf("quorum: %w: commit index %d outside the log [%d, %d]",
				ErrCorrupt, hs.GetCommit(), st.snapIndex, last)
		}
		if err := removeSnapshotsExcept(dir, st.snapIndex); err != nil {
			w.close()
			return nil, loaded{}, err
		}
		s.wal, s.hardState, s.snapIndex = w, hs, st.snapIndex
		ld = loaded{snapshot: snap, hardState: hs, lastIndex: last, tornBytes: torn}
		entries = st.entries
	}
	// ApplySnapshot resets mem's entries: it comes first.
	if err := s.mem.ApplySnapshot(ld.snapshot); err != nil {
		s.wal.close()
		return nil, loaded{}, fmt.Errorf("quorum: %w", err)
	}
	if err := s.mem.Append(entries); err != nil {
		s.wal.close()
		return nil, loaded{}, fmt.Errorf("quorum: %w", err)
	}
	if err := s.mem.SetHardState(ld.hardState); err != nil {
		s.wal.close()
		return nil, loaded{}, fmt.Errorf("quorum: %w", err)
	}
	return s, ld, nil
}

// removeTemporaries deletes the temporary files a crash left behind.
func removeTemporaries(dir string) error {
	des, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("quorum: %w", err)
	}
	for _, de := range des {
		if strings.HasSuffix(de.Name(), tmpSuffix) {
			if err := os.Remove(filepath.Join(dir, de.Name())); err != nil {
				return fmt.Errorf("quorum: %w", err)
			}
		}
	}
	return nil
}

// save makes a Ready's snapshot, entries and HardState durable (step 1 of
// raft's contract), then hands them to mem. When it returns nil, the
// Ready's messages may be sent.
func (s *storage) save(rd *raft.Ready) error {
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := s.saveReceivedSnapshot(rd.Snapshot, rd.HardState); err != nil {
			return err
		}
	}
	var hs *pb.HardState
	if !raft.IsEmptyHardState(rd.HardState) {
		hs = rd.HardState
	}
	if err := s.wal.append(rd.Entries, hs, rd.MustSync); err != nil {
		return err
	}
	if err := s.mem.Append(rd.Entries); err != nil {
		return fmt.Errorf("quorum: %w", err)
	}
	if hs != nil {
		s.hardState = hs
		if err := s.mem.SetHardState(hs); err != nil {
			return fmt.Errorf("quorum: %w", err)
		}
	}
	return nil
}

// saveReceivedSnapshot persists a snapshot sent by the leader. raft
// discards our whole log when it accepts one, so the WAL restarts after
// it. Order: the snapshot file first, then the new WAL naming it; a crash
// in between leaves the old WAL naming the old snapshot, a consistent
// state from before the snapshot arrived (which nobody was told about).
func (s *storage) saveReceivedSnapshot(snap *pb.Snapshot, rdHardState *pb.HardState) error {
	md := snap.GetMetadata()
	if err := writeSnapshotFile(s.dir, snap); err != nil {
		return err
	}
	hs := s.hardState
	if !raft.IsEmptyHardState(rdHardState) {
		hs = rdHardState
	}
	// The snapshot is committed: a HardState must never say less.
	hs = &pb.HardState{Term: new(max(hs.GetTerm(), md.GetTerm())), Vote: new(hs.GetVote()),
		Commit: new(max(hs.GetCommit(), md.GetIndex()))}
	w, err := rewriteWAL(s.dir, md.GetIndex(), md.GetTerm(), hs, nil)
	if err != nil {
		return err
	}
	s.wal.close()
	s.wal, s.snapIndex, s.hardState = w, md.GetIndex(), hs
	if err := removeSnapshotsExcept(s.dir, md.GetIndex()); err != nil {
		return err
	}
	if err := s.mem.ApplySnapshot(snap); err != nil {
		return fmt.Errorf("quorum: %w", err)
	}
	return s.mem.SetHardState(hs)
}

// snapshot records the state machine at index (which must be applied and
// durable) as the current snapshot, then compacts: mem keeps catchUp
// entries before index for slow followers, and the WAL is rewritten to
// start after index. Order: snapshot file, new WAL, old files removed.
func (s *storage) snapshot(index uint64, cs *pb.ConfState, data []byte, catchUp uint64) error {
	snap, err := s.mem.CreateSnapshot(index, cs, data)
	if err != nil {
		return fmt.Errorf("quorum: %w", err)
	}
	if err := writeSnapshotFile(s.dir, snap); err != nil {
		return err
	}
	last, _ := s.mem.LastIndex()
	var tail []*pb.Entry
	if last > index {
		tail, err = s.mem.Entries(index+1, last+1, math.MaxUint64)
		if err != nil {
			return fmt.Errorf("quorum: %w", err)
		}
	}
	w, err := rewriteWAL(s.dir, index, snap.GetMetadata().GetTerm(), s.hardState, tail)
	if err != nil {
		return err
	}
	s.wal.close()
	s.wal, s.snapIndex = w, index
	if err := removeSnapshotsExcept(s.dir, index); err != nil {
		return err
	}
	if index > catchUp {
		first, _ := s.mem.FirstIndex()
		if compact := index - catchUp; compact >= first {
			if err := s.mem.Compact(compact); err != nil {
				return fmt.Errorf("quorum: %w", err)
			}
		}
	}
	return nil
}

func (s *storage) close() error { return s.wal.close() }

// raftStorage is the raft.Storage raft reads: the MemoryStorage, except
// for Snapshot, which raft calls only to send a snapshot to a follower
// behind the log. That snapshot is made fresh at the applied index by
// fresh, rather than the last one on disk: a learner added after the disk
// snapshot is not in its ConfState and would refuse it.
type raftStorage struct {
	*raft.MemoryStorage
	fresh func() (*pb.Snapshot, error)
}

func (s raftStorage) Snapshot() (*pb.Snapshot, error) { return s.fresh() }
