package quorum

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/gregor-log/gregor/internal/binread"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// A normal entry's data is a metadata batch tagged with its proposal:
//
//	version (1 byte, 1), proposer's Raft id (uvarint), proposal id
//	(uvarint), then metadata.EncodeBatch(records) (the rest)
//
// A conf change entry is a raftpb.ConfChange whose Id is the proposal id
// and whose Context is
//
//	version (1 byte, 1), proposer's Raft id (uvarint), the member's
//	transport address (the rest; empty for RemoveNode)
//
// The tag lets the proposer recognise its own entry when it is applied,
// and every node read a new member's address from the log. Raft's own
// empty entries (a new leader's first) have no data.

const entryVersion = 1

// tag identifies a proposal: ids are unique per proposer and process
// lifetime, which is as long as anyone waits for them.
type tag struct {
	proposer uint64
	id       uint64
}

func encodeEntryData(t tag, batch []byte) []byte {
	b := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(batch))
	b = append(b, entryVersion)
	b = binary.AppendUvarint(b, t.proposer)
	b = binary.AppendUvarint(b, t.id)
	return append(b, batch...)
}

// decodeEntryData splits a normal entry's data into its tag and batch.
func decodeEntryData(data []byte) (tag, []byte, error) {
	d := &reader{binread.New(data)}
	if v := d.Byte(); v != entryVersion {
		return tag{}, nil, fmt.Errorf("%w: entry version %d", ErrCorrupt, v)
	}
	t := tag{proposer: d.Uvarint(), id: d.Uvarint()}
	batch := d.Rest()
	if d.Bad() {
		return tag{}, nil, fmt.Errorf("%w: entry header", ErrCorrupt)
	}
	return t, batch, nil
}

func encodeConfContext(proposer uint64, addr string) []byte {
	b := []byte{entryVersion}
	b = binary.AppendUvarint(b, proposer)
	return append(b, addr...)
}

func decodeConfContext(ctx []byte) (proposer uint64, addr string, err error) {
	d := &reader{binread.New(ctx)}
	if v := d.Byte(); v != entryVersion {
		return 0, "", fmt.Errorf("%w: conf change context version %d", ErrCorrupt, v)
	}
	proposer = d.Uvarint()
	rest := d.Rest()
	if d.Bad() || len(rest) > maxAddressBytes {
		return 0, "", fmt.Errorf("%w: conf change context", ErrCorrupt)
	}
	return proposer, string(rest), nil
}

// entryTag returns the proposal tag of an entry, if it has one.
func entryTag(e *pb.Entry) (tag, bool) {
	switch e.GetType() {
	case pb.EntryNormal:
		if len(e.GetData()) == 0 {
			return tag{}, false
		}
		t, _, err := decodeEntryData(e.GetData())
		return t, err == nil
	case pb.EntryConfChange:
		var cc pb.ConfChange
		if proto.Unmarshal(e.GetData(), &cc) != nil {
			return tag{}, false
		}
		proposer, _, err := decodeConfContext(cc.GetContext())
		return tag{proposer: proposer, id: cc.GetId()}, err == nil
	}
	return tag{}, false
}

var (
	// ErrNotLeader: this node is not the Raft leader (the active
	// controller), so it cannot write. Errors wrapping it are
	// *NotLeaderError, which names the leader if known.
	ErrNotLeader = errors.New("quorum: not the leader")
	// ErrTimeout: the proposal was not applied before its deadline. Its
	// outcome is unknown: it may still be committed later.
	ErrTimeout = errors.New("quorum: proposal timed out")
	// ErrProposalDropped: the proposal was certainly not committed (a new
	// leader overwrote it, or raft refused it); it may be retried.
	ErrProposalDropped = errors.New("quorum: proposal dropped")
	// ErrOutcomeUnknown: a snapshot from a new leader replaced the log
	// before this node saw whether its proposal was committed.
	ErrOutcomeUnknown = errors.New("quorum: proposal outcome unknown")
)

// NotLeaderError is the error of a write sent to a node that is not the
// leader. Leader is the leader's node id, or -1 when none is known.
type NotLeaderError struct {
	Leader int32
}

func (e *NotLeaderError) Error() string {
	if e.Leader < 0 {
		return "quorum: not the leader (no leader known)"
	}
	return fmt.Sprintf("quorum: not the leader (node %d is)", e.Leader)
}

func (e *NotLeaderError) Unwrap() error { return ErrNotLeader }

// LeaderFrom returns the leader named by an error wrapping a
// *NotLeaderError (-1 when it names none), and whether err wraps one.
func LeaderFrom(err error) (int32, bool) {
	var nl *NotLeaderError
	if errors.As(err, &nl) {
		return nl.Leader, true
	}
	return -1, false
}

// proposal is one Append or conf change waiting for its entry.
type proposal struct {
	tag  tag
	done chan error // buffered: the loop never blocks on it
	// index and term are the entry's position once this node has written
	// it to its log (0 before): set by the Ready loop under pending.mu.
	index, term uint64
}

// pendingTable holds the proposals of this node waiting for their
// entries. Its size is bounded by Node.slots. The Ready loop resolves a
// proposal when it applies the entry at the proposal's index: its own
// entry (success, or the apply error), or another (dropped).
type pendingTable struct {
	mu      sync.Mutex
	byID    map[uint64]*proposal
	byIndex map[uint64]*proposal // only proposals with an index
}

func (pt *pendingTable) add(p *proposal) {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if pt.byID == nil {
		pt.byID = map[uint64]*proposal{}
		pt.byIndex = map[uint64]*proposal{}
	}
	pt.byID[p.tag.id] = p
}

// remove forgets p (its waiter gave up).
func (pt *pendingTable) remove(p *proposal) {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	delete(pt.byID, p.tag.id)
	if p.index != 0 && pt.byIndex[p.index] == p {
		delete(pt.byIndex, p.index)
	}
}

// placed records that the entry of proposal id was written at index.
func (pt *pendingTable) placed(id, index, term uint64) {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	p := pt.byID[id]
	if p == nil {
		return
	}
	if p.index != 0 && pt.byIndex[p.index] == p {
		delete(pt.byIndex, p.index)
	}
	p.index, p.term = index, term
	pt.byIndex[index] = p
}

// resolve finishes the proposal whose entry was expected at index, given
// the tag of the entry actually applied there.
func (pt *pendingTable) resolve(index uint64, applied tag, hasTag bool, result error) {
	pt.mu.Lock()
	p := pt.byIndex[index]
	if p == nil {
		pt.mu.Unlock()
		return
	}
	delete(pt.byIndex, index)
	delete(pt.byID, p.tag.id)
	pt.mu.Unlock()
	if !hasTag || applied != p.tag {
		result = fmt.Errorf("%w: another entry was committed at index %d", ErrProposalDropped, index)
	}
	p.done <- result
}

// failPlacedUpTo fails the proposals placed at or below index with err.
func (pt *pendingTable) failPlacedUpTo(index uint64, err error) {
	pt.mu.Lock()
	var failed []*proposal
	for i, p := range pt.byIndex {
		if i <= index {
			failed = append(failed, p)
			delete(pt.byIndex, i)
			delete(pt.byID, p.tag.id)
		}
	}
	pt.mu.Unlock()
	for _, p := range failed {
		p.done <- err
	}
}

// finish resolves the proposal with id (if still waiting) with err.
func (pt *pendingTable) finish(id uint64, err error) {
	pt.mu.Lock()
	p := pt.byID[id]
	if p != nil {
		delete(pt.byID, id)
		if p.index != 0 && pt.byIndex[p.index] == p {
			delete(pt.byIndex, p.index)
		}
	}
	pt.mu.Unlock()
	if p != nil {
		p.done <- err
	}
}

// len is the number of waiting proposals.
func (pt *pendingTable) len() int {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	return len(pt.byID)
}
