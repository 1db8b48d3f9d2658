package quorum

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/gregor-log/gregor/internal/metadata"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// loopState is everything only the Ready loop's goroutine touches.
//
// Invariants, between two Readies:
//   - image is the state machine after applying every committed entry up
//     to applied, in order, starting from the snapshot at snapIndex;
//     addresses and confState are the membership at the same index.
//   - snapIndex <= applied <= commit <= the last durable entry.
//   - every proposal placed at an index <= applied has been resolved.
type loopState struct {
	rn *raft.RawNode
	st *storage

	image     *metadata.Image
	addresses map[uint64]string // Raft id → transport address, members only
	confState *pb.ConfState
	applied   uint64
	snapIndex uint64

	// catchUpTo is the commit index found on disk at open; caughtUp is
	// closed once applied reaches it.
	catchUpTo uint64
	caughtUp  bool
	// proposed holds the ids of proposals raft accepted since the last
	// Ready. raft appends an accepted proposal to its log at once, so the
	// next Ready's entries hold it, unless raft replaced it (a conf change
	// while another is pending becomes an empty entry) or a new leader
	// truncated it before it was ever written: then it was dropped.
	proposed []uint64
	// undelivered are the messages of the current Ready the transport
	// dropped; they are reported to raft after Advance.
	undelivered []*pb.Message
	snapsTaken  int
	snapsIn     int
	// applying is set while a Ready's snapshot and entries are applied:
	// the state machine is then between two indexes, and no snapshot of
	// it can be sent (ApplyConfChange may make raft want one).
	applying bool
	// toSend caches the last snapshot made for a follower.
	toSend *pb.Snapshot
	// contact is, on the leader, when each member last responded and
	// was last known caught up (contact.go).
	contact contactState
}

// run is the Ready loop: the only goroutine that touches the RawNode, the
// storage and loopState. Each turn it handles one event (a tick, messages,
// proposals, a transport report, a status request), then processes every
// Ready raft has, following raft's contract in order: persist, send,
// apply, Advance. It never waits for the network: sends only queue.
func (n *Node) run() {
	defer close(n.done)
	ticker := time.NewTicker(n.cfg.TickInterval)
	defer ticker.Stop()
	var err error
	defer func() {
		if err != nil && !errors.Is(err, errStopped) {
			n.log.Error("quorum: node stopped", "err", err)
			n.mu.Lock()
			n.mu.err = err
			n.mu.Unlock()
		}
		// Every waiter also watches done; nothing is left to resolve.
	}()
	for {
		if err = n.processReadies(); err != nil {
			return
		}
		if !n.loop.caughtUp && n.loop.applied >= n.loop.catchUpTo {
			n.loop.caughtUp = true
			close(n.caughtUp)
		}
		select {
		case <-ticker.C:
			n.loop.rn.Tick()
		case m := <-n.recvc:
			if err = n.step(m); err != nil {
				return
			}
			for range drainPerEvent {
				select {
				case m := <-n.recvc:
					if err = n.step(m); err != nil {
						return
					}
					continue
				default:
				}
				break
			}
		case req := <-n.propc:
			n.proposeInLoop(req)
			// Take the proposals already waiting too: one Ready, one
			// fsync for all of them.
			for range drainPerEvent {
				select {
				case req := <-n.propc:
					n.proposeInLoop(req)
					continue
				default:
				}
				break
			}
		case r := <-n.reportc:
			switch r.kind {
			case reportUnreachable:
				n.loop.rn.ReportUnreachable(r.to)
			case reportSnapshotFinish:
				n.loop.rn.ReportSnapshot(r.to, raft.SnapshotFinish)
			case reportSnapshotFailure:
				n.loop.rn.ReportSnapshot(r.to, raft.SnapshotFailure)
			}
		case reply := <-n.statusc:
			reply <- n.statusInLoop()
		case <-n.stopc:
			err = errStopped
			return
		}
	}
}

// step hands a message from a peer to raft. raft panics on a message
// that contradicts its log, which a correct peer never sends; from the
// network that must not take the process down, so the panic stops this
// node instead (its state can no longer be trusted).
func (n *Node) step(m *pb.Message) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: raft failed on a %v from node %d: %v", ErrCorrupt, m.GetType(), nodeID(m.GetFrom()), r)
		}
	}()
	// Errors here are about stale or unknown senders: raft ignores them.
	if n.loop.rn.Step(m) == nil {
		n.noteContact(m, time.Now())
	}
	return nil
}

// proposeInLoop proposes a request's entry, if this node leads.
func (n *Node) proposeInLoop(req *request) {
	rn := n.loop.rn
	bs := rn.BasicStatus()
	if bs.RaftState != raft.StateLeader {
		n.pending.finish(req.p.tag.id, &NotLeaderError{Leader: nodeID(bs.Lead)})
		return
	}
	var err error
	if req.conf != nil {
		if err = n.checkConfChange(req.conf); err == nil {
			err = rn.ProposeConfChange(req.conf)
		}
		if errors.Is(err, errNoChange) {
			n.pending.finish(req.p.tag.id, nil)
			return
		}
	} else {
		err = rn.Propose(req.data)
	}
	if errors.Is(err, raft.ErrProposalDropped) {
		err = fmt.Errorf("%w: raft refused it (leadership transfer or too many uncommitted entries)", ErrProposalDropped)
	}
	if err != nil {
		n.pending.finish(req.p.tag.id, err)
		return
	}
	n.loop.proposed = append(n.loop.proposed, req.p.tag.id)
}

// errNoChange: a conf change that would change nothing.
var errNoChange = errors.New("quorum: no change")

// checkConfChange refuses, before proposing, a conf change the apply step
// would cancel, and spots one that changes nothing.
func (n *Node) checkConfChange(cc *pb.ConfChange) error {
	id := cc.GetNodeId()
	_, addr, _ := decodeConfContext(cc.GetContext())
	switch cc.GetType() {
	case pb.ConfChangeAddLearnerNode:
		if slices.Contains(n.loop.confState.GetVoters(), id) {
			return fmt.Errorf("%w: node %d is a voter", ErrConfig, nodeID(id))
		}
		if slices.Contains(n.loop.confState.GetLearners(), id) && n.loop.addresses[id] == addr {
			return errNoChange
		}
	case pb.ConfChangeRemoveNode:
		if !slices.Contains(n.loop.confState.GetVoters(), id) && !slices.Contains(n.loop.confState.GetLearners(), id) {
			return errNoChange
		}
	}
	return nil
}

// processReadies handles every Ready raft has.
func (n *Node) processReadies() error {
	rn := n.loop.rn
	for rn.HasReady() {
		rd := rn.Ready()
		if err := n.handleReady(&rd); err != nil {
			return err
		}
		rn.Advance(rd)
		// Tell raft about the messages the transport dropped, so it
		// probes those peers again (and retries a snapshot).
		for _, m := range n.loop.undelivered {
			rn.ReportUnreachable(m.GetTo())
			if m.GetType() == pb.MsgSnap {
				rn.ReportSnapshot(m.GetTo(), raft.SnapshotFailure)
			}
		}
		clear(n.loop.undelivered)
		n.loop.undelivered = n.loop.undelivered[:0]
	}
	return nil
}

// handleReady follows raft's contract (see the package doc of raft):
//  1. persist the snapshot, entries and HardState (fsync when MustSync);
//  2. only then send the messages;
//  3. apply the snapshot and the committed entries;
//
// and the caller calls Advance (step 4).
func (n *Node) handleReady(rd *raft.Ready) error {
	if rd.SoftState != nil {
		n.setLeader(nodeID(rd.SoftState.Lead))
	}
	var sm stateMachine
	if !raft.IsEmptySnap(rd.Snapshot) {
		// Decode before persisting: a snapshot we cannot read must not
		// replace a log we can.
		var err error
		if sm, err = decodeSnapshotData(rd.Snapshot.GetData()); err != nil {
			return fmt.Errorf("quorum: snapshot %d from the leader: %w", rd.Snapshot.GetMetadata().GetIndex(), err)
		}
	}
	// 1. Persist.
	if err := n.loop.st.save(rd); err != nil {
		return err
	}
	n.placeProposals(rd.Entries)
	// 2. Send.
	for _, m := range rd.Messages {
		if n.tr == nil || !n.tr.send(m) {
			n.loop.undelivered = append(n.loop.undelivered, m)
		}
	}
	// 3. Apply.
	n.loop.applying = true
	if !raft.IsEmptySnap(rd.Snapshot) {
		n.restore(rd.Snapshot, sm)
	}
	for _, e := range rd.CommittedEntries {
		n.apply(e)
	}
	n.loop.applying = false
	return n.maybeSnapshot()
}

// snapshotToSend is raftStorage's Snapshot: the state machine at the
// applied index, for a follower whose next entry was compacted away. It
// runs on the loop's goroutine, inside raft.
func (n *Node) snapshotToSend() (*pb.Snapshot, error) {
	if n.loop.applying {
		// raft tries again at the follower's next heartbeat response.
		return nil, raft.ErrSnapshotTemporarilyUnavailable
	}
	if s := n.loop.toSend; s != nil && s.GetMetadata().GetIndex() == n.loop.applied {
		return s, nil
	}
	term, err := n.loop.st.mem.Term(n.loop.applied)
	if err != nil {
		// The applied entry is always in the log (compaction stops at it).
		panic(fmt.Sprintf("quorum: term of applied entry %d: %v", n.loop.applied, err))
	}
	n.loop.toSend = &pb.Snapshot{
		Data: encodeSnapshotData(stateMachine{image: n.loop.image, addresses: n.loop.addresses}),
		Metadata: &pb.SnapshotMetadata{Index: new(n.loop.applied), Term: new(term),
			ConfState: proto.Clone(n.loop.confState).(*pb.ConfState)},
	}
	return n.loop.toSend, nil
}

func (n *Node) setLeader(id int32) {
	if n.leader.Swap(id) == id {
		return
	}
	n.mu.Lock()
	close(n.mu.leaderChanged)
	n.mu.leaderChanged = make(chan struct{})
	n.mu.Unlock()
}

// placeProposals records where this node's proposals landed in its log,
// and fails those raft accepted but did not append (see proposed).
func (n *Node) placeProposals(entries []*pb.Entry) {
	if len(n.loop.proposed) == 0 && (len(entries) == 0 || n.pending.len() == 0) {
		return
	}
	placed := map[uint64]bool{}
	for _, e := range entries {
		if t, ok := entryTag(e); ok && t.proposer == n.self {
			n.pending.placed(t.id, e.GetIndex(), e.GetTerm())
			placed[t.id] = true
		}
	}
	for _, id := range n.loop.proposed {
		if !placed[id] {
			n.pending.finish(id, fmt.Errorf("%w: raft did not append it (a conf change already pending, or leadership lost)", ErrProposalDropped))
		}
	}
	n.loop.proposed = n.loop.proposed[:0]
}

// restore installs a snapshot from the leader as the state machine.
func (n *Node) restore(snap *pb.Snapshot, sm stateMachine) {
	md := snap.GetMetadata()
	n.loop.confState = proto.Clone(pb.EnsureConfState(md.GetConfState())).(*pb.ConfState)
	n.loop.addresses = sm.addresses
	// The configured voter addresses win, as at open.
	for id, addr := range n.cfg.Voters {
		if _, ok := n.loop.addresses[raftID(id)]; ok && addr != "" {
			n.loop.addresses[raftID(id)] = addr
		}
	}
	n.loop.applied = md.GetIndex()
	n.loop.snapIndex = md.GetIndex()
	n.loop.snapsIn++
	n.publishMembers()
	n.publish(sm.image)
	n.pending.failPlacedUpTo(md.GetIndex(), fmt.Errorf("%w: a snapshot up to index %d replaced the log", ErrOutcomeUnknown, md.GetIndex()))
	n.log.Info("quorum: installed a snapshot from the leader", "index", md.GetIndex(), "term", md.GetTerm())
}

// apply applies one committed entry. It is deterministic: every node
// applies the same entries to the same state with the same result, a
// failure included (such an entry is skipped everywhere).
func (n *Node) apply(e *pb.Entry) {
	if e.GetIndex() != n.loop.applied+1 {
		panic(fmt.Sprintf("quorum: applying entry %d after %d", e.GetIndex(), n.loop.applied))
	}
	var result error
	switch e.GetType() {
	case pb.EntryNormal:
		result = n.applyNormal(e)
	case pb.EntryConfChange:
		result = n.applyConfChange(e)
	case pb.EntryConfChangeV2:
		// Never proposed by this package; applied as raft asks, without
		// addresses.
		var cc pb.ConfChangeV2
		if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
			result = fmt.Errorf("%w: conf change v2 at %d: %w", ErrCorrupt, e.GetIndex(), err)
			cc = pb.ConfChangeV2{}
		}
		n.loop.confState = n.loop.rn.ApplyConfChange(&cc)
	}
	n.loop.applied = e.GetIndex()
	t, hasTag := entryTag(e)
	n.pending.resolve(e.GetIndex(), t, hasTag, result)
}

// applyNormal applies a metadata batch; an entry that does not decode or
// apply changes nothing.
func (n *Node) applyNormal(e *pb.Entry) error {
	if len(e.GetData()) == 0 {
		return nil // a new leader's empty entry
	}
	_, batch, err := decodeEntryData(e.GetData())
	if err != nil {
		n.log.Warn("quorum: skipping an entry", "index", e.GetIndex(), "err", err)
		return err
	}
	records, err := metadata.DecodeBatch(batch)
	if err != nil {
		n.log.Warn("quorum: skipping an entry", "index", e.GetIndex(), "err", err)
		return err
	}
	next, err := n.loop.image.Apply(records...)
	if err != nil {
		// Normal when two batches raced past validation on the leader;
		// the proposer gets the error.
		n.log.Debug("quorum: entry does not apply, skipped", "index", e.GetIndex(), "err", err)
		return err
	}
	n.publish(next)
	return nil
}

// applyConfChange applies a membership change and its address. raft must
// see every committed conf change; one this node will not carry out (it
// does not decode, or would demote a voter to a learner) is cancelled by
// zeroing its node id, a decision based on the log alone, so every node
// makes the same one.
func (n *Node) applyConfChange(e *pb.Entry) error {
	var cc pb.ConfChange
	var result error
	addr := ""
	if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
		result = fmt.Errorf("%w: conf change at %d: %w", ErrCorrupt, e.GetIndex(), err)
	} else if _, addr, err = decodeConfContext(cc.GetContext()); err != nil {
		result = err
	}
	id := cc.GetNodeId()
	if result == nil {
		switch cc.GetType() {
		case pb.ConfChangeAddLearnerNode:
			if slices.Contains(n.loop.confState.GetVoters(), id) {
				result = fmt.Errorf("%w: node %d is a voter", ErrConfig, nodeID(id))
			}
			fallthrough
		case pb.ConfChangeAddNode:
			if addr == "" && result == nil {
				result = fmt.Errorf("%w: node %d without an address", ErrConfig, nodeID(id))
			}
		}
	}
	if result != nil || nodeID(id) < 0 {
		n.log.Warn("quorum: cancelling a conf change", "index", e.GetIndex(), "err", result)
		cc = pb.ConfChange{Type: pb.ConfChangeAddNode.Enum(), NodeId: new(uint64(0))}
		n.loop.confState = n.loop.rn.ApplyConfChange(&cc)
		return result
	}
	n.loop.confState = n.loop.rn.ApplyConfChange(&cc)
	switch cc.GetType() {
	case pb.ConfChangeAddNode, pb.ConfChangeAddLearnerNode:
		n.loop.addresses[id] = addr
	case pb.ConfChangeRemoveNode:
		delete(n.loop.addresses, id)
		n.forgetContact(id)
	}
	n.publishMembers()
	n.log.Info("quorum: membership changed", "change", cc.GetType().String(), "member", nodeID(id), "addr", addr)
	return nil
}

// publish makes img the current image and wakes watchers.
func (n *Node) publish(img *metadata.Image) {
	n.loop.image = img
	n.image.Store(img)
	n.mu.Lock()
	close(n.mu.changed)
	n.mu.changed = make(chan struct{})
	n.mu.Unlock()
}

// maybeSnapshot takes a snapshot and compacts the log every
// SnapshotEntries applied entries.
func (n *Node) maybeSnapshot() error {
	if n.loop.applied-n.loop.snapIndex < n.cfg.SnapshotEntries {
		return nil
	}
	data := encodeSnapshotData(stateMachine{image: n.loop.image, addresses: n.loop.addresses})
	if len(data) > maxMessageBytes {
		// A snapshot could not be sent: keep the log instead. This is a
		// metadata image far beyond any sane cluster.
		n.log.Error("quorum: metadata image too large to snapshot", "bytes", len(data))
		n.loop.snapIndex = n.loop.applied
		return nil
	}
	if err := n.loop.st.snapshot(n.loop.applied, n.loop.confState, data, uint64(n.cfg.CatchUpEntries)); err != nil {
		return err
	}
	n.loop.snapIndex = n.loop.applied
	n.loop.snapsTaken++
	n.log.Debug("quorum: snapshot taken", "index", n.loop.applied, "bytes", len(data))
	return nil
}

// statusInLoop builds a Status from the loop's state.
func (n *Node) statusInLoop() Status {
	bs := n.loop.rn.BasicStatus()
	last, _ := n.loop.st.mem.LastIndex()
	s := Status{
		NodeID:            n.cfg.NodeID,
		Leader:            nodeID(bs.Lead),
		Role:              bs.RaftState.String(),
		Learner:           slices.Contains(n.loop.confState.GetLearners(), n.self),
		Term:              bs.HardState.GetTerm(),
		Commit:            bs.HardState.GetCommit(),
		Applied:           n.loop.applied,
		LastIndex:         last,
		SnapshotIndex:     n.loop.snapIndex,
		SnapshotsReceived: n.loop.snapsIn,
		Members:           map[int32]string{},
		ImageOffset:       n.loop.image.Offset,
	}
	for _, id := range n.loop.confState.GetVoters() {
		s.Voters = append(s.Voters, nodeID(id))
	}
	for _, id := range n.loop.confState.GetLearners() {
		s.Learners = append(s.Learners, nodeID(id))
	}
	for _, id := range slices.Sorted(maps.Keys(n.loop.addresses)) {
		s.Members[nodeID(id)] = n.loop.addresses[id]
	}
	if bs.RaftState == raft.StateLeader {
		// Status copies every member's progress: only on request.
		s.Match = map[int32]uint64{}
		progress := n.loop.rn.Status().Progress
		for id, pr := range progress {
			s.Match[nodeID(id)] = pr.Match
		}
		n.contactTimes(&s, bs.HardState.GetTerm(), progress, time.Now())
	}
	return s
}
