package quorum

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/gregor-log/gregor/internal/binread"
	"github.com/gregor-log/gregor/internal/metadata"
	pb "go.etcd.io/raft/v3/raftpb"
)

// A snapshot file, snap-<index as 16 hex digits>.snap, holds one Raft
// snapshot:
//
//	offset size field
//	     0    4 magic "GRQS"
//	     4    4 length of payload (big endian)
//	     8    4 CRC32C (Castagnoli) of payload
//	    12    … payload: version (1 byte), index, term, the ConfState
//	            (voters, learners, outgoing voters, next learners: each a
//	            uvarint count then uvarint ids; auto-leave: 1 byte), then
//	            the snapshot data (the rest)
//
// It is written whole by writeFileAtomic, so it is never torn: a file that
// does not check out is corruption. The WAL's marker names the snapshot
// the log continues; any other snapshot file is a leftover of a crash and
// is removed at open.
//
// The snapshot data, which is also what a leader sends in MsgSnap, is the
// state machine at the snapshot's index:
//
//	version (1 byte), image Offset (uvarint), the address book (uvarint
//	count, then per member its Raft id (uvarint) and address (uvarint
//	length + bytes)), then metadata.EncodeBatch(image.Records()) (the rest)

const (
	snapMagic           = "GRQS"
	snapFileVersion     = 1
	snapDataVersion     = 1
	snapFileHeaderBytes = 12
	// maxAddressBytes bounds one member's transport address.
	maxAddressBytes = 1024
)

func snapFileName(index uint64) string { return fmt.Sprintf("snap-%016x.snap", index) }

// parseSnapFileName returns the index of a snapshot file name.
func parseSnapFileName(name string) (uint64, bool) {
	hex, ok := strings.CutPrefix(name, "snap-")
	if !ok {
		return 0, false
	}
	hex, ok = strings.CutSuffix(hex, ".snap")
	if !ok || len(hex) != 16 {
		return 0, false
	}
	i, err := strconv.ParseUint(hex, 16, 64)
	return i, err == nil
}

func appendIDs(dst []byte, ids []uint64) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(ids)))
	for _, id := range ids {
		dst = binary.AppendUvarint(dst, id)
	}
	return dst
}

func (d *reader) ids() []uint64 {
	n := d.Count(1)
	if n == 0 {
		return nil
	}
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = d.Uvarint()
	}
	return ids
}

// encodeSnapshotFile encodes snap as a snapshot file's bytes.
func encodeSnapshotFile(snap *pb.Snapshot) []byte {
	md := snap.GetMetadata()
	cs := md.GetConfState()
	p := []byte{snapFileVersion}
	p = binary.AppendUvarint(p, md.GetIndex())
	p = binary.AppendUvarint(p, md.GetTerm())
	p = appendIDs(p, cs.GetVoters())
	p = appendIDs(p, cs.GetLearners())
	p = appendIDs(p, cs.GetVotersOutgoing())
	p = appendIDs(p, cs.GetLearnersNext())
	autoLeave := byte(0)
	if cs.GetAutoLeave() {
		autoLeave = 1
	}
	p = append(p, autoLeave)
	p = append(p, snap.GetData()...)

	out := make([]byte, snapFileHeaderBytes, snapFileHeaderBytes+len(p))
	copy(out, snapMagic)
	binary.BigEndian.PutUint32(out[4:], uint32(len(p)))
	binary.BigEndian.PutUint32(out[8:], crc32.Checksum(p, castagnoli))
	return append(out, p...)
}

// decodeSnapshotFile decodes a snapshot file's bytes.
func decodeSnapshotFile(b []byte) (*pb.Snapshot, error) {
	if len(b) < snapFileHeaderBytes || string(b[:4]) != snapMagic {
		return nil, fmt.Errorf("%w: not a snapshot file", ErrCorrupt)
	}
	n := binary.BigEndian.Uint32(b[4:])
	p := b[snapFileHeaderBytes:]
	if uint64(n) != uint64(len(p)) || crc32.Checksum(p, castagnoli) != binary.BigEndian.Uint32(b[8:]) {
		return nil, fmt.Errorf("%w: snapshot file length or checksum", ErrCorrupt)
	}
	d := &reader{binread.New(p)}
	if v := d.Byte(); v != snapFileVersion {
		return nil, fmt.Errorf("%w: snapshot file version %d", ErrCorrupt, v)
	}
	index, term := d.Uvarint(), d.Uvarint()
	cs := &pb.ConfState{Voters: d.ids(), Learners: d.ids(), VotersOutgoing: d.ids(), LearnersNext: d.ids()}
	switch d.Byte() {
	case 0:
		cs.AutoLeave = new(false)
	case 1:
		cs.AutoLeave = new(true)
	default:
		d.Fail()
	}
	data := d.Rest()
	if d.Bad() {
		return nil, fmt.Errorf("%w: snapshot file fields", ErrCorrupt)
	}
	return &pb.Snapshot{
		Data:     slices.Clone(data),
		Metadata: &pb.SnapshotMetadata{Index: new(index), Term: new(term), ConfState: cs},
	}, nil
}

// writeSnapshotFile writes snap durably into dir.
func writeSnapshotFile(dir string, snap *pb.Snapshot) error {
	f, err := writeFileAtomic(filepath.Join(dir, snapFileName(snap.GetMetadata().GetIndex())), encodeSnapshotFile(snap))
	if err != nil {
		return err
	}
	return f.Close()
}

// readSnapshotFile reads the snapshot at index from dir.
func readSnapshotFile(dir string, index uint64) (*pb.Snapshot, error) {
	path := filepath.Join(dir, snapFileName(index))
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("quorum: %w", err)
	}
	defer f.Close()
	// Read at most one byte past the bound, so an oversized file is
	// refused without being read whole.
	b, err := io.ReadAll(io.LimitReader(f, snapFileHeaderBytes+maxMessageBytes+1))
	if err != nil {
		return nil, fmt.Errorf("quorum: %w", err)
	}
	if len(b) > snapFileHeaderBytes+maxMessageBytes {
		return nil, fmt.Errorf("%w: %s is too large", ErrCorrupt, path)
	}
	snap, err := decodeSnapshotFile(b)
	if err != nil {
		return nil, fmt.Errorf("quorum: %s: %w", path, err)
	}
	if got := snap.GetMetadata().GetIndex(); got != index {
		return nil, fmt.Errorf("quorum: %s: %w: holds index %d", path, ErrCorrupt, got)
	}
	return snap, nil
}

// removeSnapshotsExcept removes every snapshot file in dir but keep's.
func removeSnapshotsExcept(dir string, keep uint64) error {
	des, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("quorum: %w", err)
	}
	for _, de := range des {
		if i, ok := parseSnapFileName(de.Name()); ok && i != keep {
			if err := os.Remove(filepath.Join(dir, de.Name())); err != nil {
				return fmt.Errorf("quorum: %w", err)
			}
		}
	}
	return nil
}

// stateMachine is what a snapshot's data holds: the metadata image and
// the transport address of every member.
type stateMachine struct {
	image *metadata.Image
	// addresses maps Raft ids to transport addresses.
	addresses map[uint64]string
}

// encodeSnapshotData encodes the state machine as a snapshot's data.
func encodeSnapshotData(sm stateMachine) []byte {
	b := []byte{snapDataVersion}
	b = binary.AppendUvarint(b, uint64(sm.image.Offset))
	b = binary.AppendUvarint(b, uint64(len(sm.addresses)))
	for _, id := range slices.Sorted(maps.Keys(sm.addresses)) {
		b = binary.AppendUvarint(b, id)
		addr := sm.addresses[id]
		b = binary.AppendUvarint(b, uint64(len(addr)))
		b = append(b, addr...)
	}
	return append(b, metadata.EncodeBatch(sm.image.Records())...)
}

// errSnapshotData wraps every failure to decode a snapshot's data.
var errSnapshotData = errors.New("snapshot data")

// decodeSnapshotData decodes a snapshot's data, from disk or a peer.
func decodeSnapshotData(b []byte) (stateMachine, error) {
	d := &reader{binread.New(b)}
	if v := d.Byte(); v != snapDataVersion {
		return stateMachine{}, fmt.Errorf("%w: %w: version %d", ErrCorrupt, errSnapshotData, v)
	}
	offset := d.Uvarint()
	n := d.Count(1)
	addresses := make(map[uint64]string, n)
	for range n {
		id := d.Uvarint()
		addr := d.Bytes()
		if id == 0 || len(addr) > maxAddressBytes {
			d.Fail()
		}
		addresses[id] = string(addr)
	}
	rest := d.Rest()
	if d.Bad() || offset > 1<<62 || len(addresses) != n {
		return stateMachine{}, fmt.Errorf("%w: %w: header", ErrCorrupt, errSnapshotData)
	}
	records, err := metadata.DecodeBatch(rest)
	if err != nil {
		return stateMachine{}, fmt.Errorf("%w: %w: %w", ErrCorrupt, errSnapshotData, err)
	}
	img, err := metadata.ImageFromRecords(int64(offset), records)
	if err != nil {
		return stateMachine{}, fmt.Errorf("%w: %w: %w", ErrCorrupt, errSnapshotData, err)
	}
	return stateMachine{image: img, addresses: addresses}, nil
}
