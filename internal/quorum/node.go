package quorum

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gregor-log/gregor/internal/metadata"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

const (
	// maxProposalBytes bounds one Append's encoded batch, well below
	// maxMessageBytes so a batch always fits a message.
	maxProposalBytes = 16 << 20
	// maxPendingProposals bounds the proposals waiting at once.
	maxPendingProposals = 1024
	// Channel bounds between the transport, callers and the Ready loop.
	recvQueueMessages  = 4096
	proposeQueueLen    = 256
	reportQueueLen     = 4096
	drainPerEvent      = 256 // messages or proposals taken per wake-up
	maxSizePerMsg      = 1 << 20
	maxInflightMsgs    = 256
	maxUncommittedSize = 256 << 20
)

// Node is one member of the metadata quorum and a metadata.Store: Append
// writes through the Raft leader; every node applies the committed log to
// its Image in the same order with the same pure function.
type Node struct {
	cfg  Config
	log  *slog.Logger
	self uint64 // Raft id

	tr *transport // nil without a listener

	image   atomic.Pointer[metadata.Image]
	leader  atomic.Int32 // node id, -1 when unknown
	members atomic.Pointer[map[uint64]string]

	propc   chan *request
	recvc   chan *pb.Message
	reportc chan report
	statusc chan chan Status
	stopc   chan struct{}
	done    chan struct{} // closed when the Ready loop has returned
	// caughtUp is closed once the loop has applied what was committed
	// when the node opened, so Open returns with the recovered image.
	caughtUp chan struct{}

	pending pendingTable
	slots   chan struct{} // one per waiting proposal: bounds pending
	nextID  atomic.Uint64
	confMu  sync.Mutex // one conf change from this node at a time

	mu struct {
		sync.Mutex
		changed       chan struct{}
		leaderChanged chan struct{}
		err           error // why the loop stopped, if it failed
		closed        bool
	}

	loop loopState // owned by the Ready loop's goroutine
}

// Open opens (creating if needed) the node's Raft state in cfg.Dir,
// starts its transport and Ready loop, and returns once the image reflects
// everything committed that the node had on disk. A new cluster of one
// voter elects itself before Open returns.
func Open(cfg Config) (*Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg:      cfg,
		log:      cfg.Logger.With("node", cfg.NodeID),
		self:     raftID(cfg.NodeID),
		propc:    make(chan *request, proposeQueueLen),
		recvc:    make(chan *pb.Message, recvQueueMessages),
		reportc:  make(chan report, reportQueueLen),
		statusc:  make(chan chan Status),
		stopc:    make(chan struct{}),
		done:     make(chan struct{}),
		caughtUp: make(chan struct{}),
		slots:    make(chan struct{}, maxPendingProposals),
	}
	n.leader.Store(-1)
	n.mu.changed = make(chan struct{})
	n.mu.leaderChanged = make(chan struct{})

	st, ld, err := openStorage(cfg.Dir, n.bootstrapSnapshot)
	if err != nil {
		return nil, err
	}
	if ld.tornBytes > 0 {
		n.log.Warn("quorum: truncated a torn WAL tail", "bytes", ld.tornBytes)
	}
	sm, err := decodeSnapshotData(ld.snapshot.GetData())
	if err != nil {
		st.close()
		return nil, fmt.Errorf("quorum: snapshot %d: %w", ld.snapshot.GetMetadata().GetIndex(), err)
	}
	// The configured voter addresses win over the recorded ones: an
	// operator may have moved a voter.
	for id, addr := range cfg.Voters {
		if addr != "" {
			sm.addresses[raftID(id)] = addr
		}
	}

	ln := cfg.Listener
	if ln == nil && cfg.Listen != "" {
		if ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			st.close()
			return nil, fmt.Errorf("quorum: %w", err)
		}
	}
	closeListener := func() {
		if ln != nil {
			ln.Close()
		}
	}

	snapIndex := ld.snapshot.GetMetadata().GetIndex()
	rn, err := raft.NewRawNode(&raft.Config{
		ID:                        n.self,
		ElectionTick:              cfg.ElectionTicks,
		HeartbeatTick:             cfg.HeartbeatTicks,
		Storage:                   raftStorage{MemoryStorage: st.mem, fresh: n.snapshotToSend},
		Applied:                   snapIndex,
		MaxSizePerMsg:             maxSizePerMsg,
		MaxCommittedSizePerReady:  8 * maxSizePerMsg,
		MaxUncommittedEntriesSize: maxUncommittedSize,
		MaxInflightMsgs:           maxInflightMsgs,
		// An isolated leader steps down after an election timeout, so it
		// stops claiming to be the controller; PreVote keeps a node that
		// rejoins from disturbing a healthy leader.
		CheckQuorum:               true,
		PreVote:                   true,
		DisableProposalForwarding: true, // only the leader proposes
		StepDownOnRemoval:         true,
		Logger:                    raftLogger{n.log},
	})
	if err != nil {
		closeListener()
		st.close()
		return nil, fmt.Errorf("quorum: %w", err)
	}
	n.loop = loopState{
		rn:        rn,
		st:        st,
		image:     sm.image,
		addresses: sm.addresses,
		confState: proto.Clone(pb.EnsureConfState(ld.snapshot.GetMetadata().GetConfState())).(*pb.ConfState),
		applied:   snapIndex,
		snapIndex: snapIndex,
		catchUpTo: ld.hardState.GetCommit(),
	}
	n.image.Store(sm.image)
	m := maps.Clone(sm.addresses)
	n.members.Store(&m) // before the transport accepts anyone
	if ln != nil {
		n.tr = newTransport(n.self, ln, n.log, n.deliver, n.report, n.isMember)
		n.tr.dialFn = cfg.Dial
	}
	n.publishMembers()

	soleVoter := slices.Equal(n.loop.confState.GetVoters(), []uint64{n.self})
	if soleVoter {
		// Nobody to wait for: campaign now rather than after an election
		// timeout.
		if err := rn.Campaign(); err != nil {
			n.closeTransport()
			st.close()
			return nil, fmt.Errorf("quorum: %w", err)
		}
	}
	go n.run()

	select {
	case <-n.caughtUp:
	case <-n.done:
		n.Close()
		return nil, n.failure()
	}
	if soleVoter {
		if err := n.WaitForLeader(context.Background()); err != nil {
			n.Close()
			return nil, err
		}
	}
	return n, nil
}

// bootstrapSnapshot is the first state of a new node: an empty image and
// the configured voters, at index 1 of term 1. Every node of a new cluster
// builds the same one, so their logs agree from the start; a learner
// starts from it too and receives the rest from the leader.
func (n *Node) bootstrapSnapshot() *pb.Snapshot {
	addresses := map[uint64]string{}
	voters := make([]uint64, 0, len(n.cfg.Voters))
	for id, addr := range n.cfg.Voters {
		addresses[raftID(id)] = addr
		voters = append(voters, raftID(id))
	}
	slices.Sort(voters)
	return &pb.Snapshot{
		Data: encodeSnapshotData(stateMachine{image: metadata.Empty(), addresses: addresses}),
		Metadata: &pb.SnapshotMetadata{Index: new(uint64(1)), Term: new(uint64(1)),
			ConfState: pb.EnsureConfState(&pb.ConfState{Voters: voters})},
	}
}

var _ metadata.Store = (*Node)(nil)

// Image returns the latest applied image.
func (n *Node) Image() *metadata.Image { return n.image.Load() }

// Changed returns a channel closed when a newer image is applied.
func (n *Node) Changed() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.changed
}

// Leader returns the leader's node id, or -1 when none is known.
func (n *Node) Leader() int32 { return n.leader.Load() }

// IsLeader reports whether this node is the leader (the active controller).
func (n *Node) IsLeader() bool { return n.leader.Load() == n.cfg.NodeID }

// NodeID is this node's id.
func (n *Node) NodeID() int32 { return n.cfg.NodeID }

// Addr is the transport's listening address, nil without a transport.
func (n *Node) Addr() net.Addr {
	if n.tr == nil {
		return nil
	}
	return n.tr.addr()
}

// WaitForLeader returns once a leader is known, or ctx's error.
func (n *Node) WaitForLeader(ctx context.Context) error {
	for {
		n.mu.Lock()
		ch := n.mu.leaderChanged
		n.mu.Unlock()
		if n.Leader() >= 0 {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("quorum: waiting for a leader: %w", ctx.Err())
		case <-n.done:
			return n.failure()
		}
	}
}

// Append is AppendContext bounded by Config.ProposalTimeout.
func (n *Node) Append(records ...metadata.Record) error {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ProposalTimeout)
	defer cancel()
	return n.AppendContext(ctx, records...)
}

// AppendContext writes records as one batch through the Raft log. Only
// the leader accepts it (otherwise a *NotLeaderError). The batch is
// checked against the current image first, so a batch that cannot apply
// (metadata.ErrInvalidRecord) is refused before it is proposed. It returns
// nil once the batch is committed and applied here (Image reflects it);
// the apply error if, when its turn came, it no longer applied (then no
// node applied it); ErrTimeout if ctx ended first (the batch may still be
// committed); ErrProposalDropped if it certainly was not.
func (n *Node) AppendContext(ctx context.Context, records ...metadata.Record) error {
	if len(records) == 0 {
		return nil
	}
	if err := n.checkWritable(); err != nil {
		return err
	}
	if _, err := n.Image().Apply(records...); err != nil {
		return err
	}
	batch := metadata.EncodeBatch(records)
	if len(batch) > maxProposalBytes {
		return fmt.Errorf("%w: a batch of %d bytes (at most %d)", metadata.ErrInvalidRecord, len(batch), maxProposalBytes)
	}
	return n.propose(ctx, func(t tag) *request {
		return &request{data: encodeEntryData(t, batch)}
	})
}

// AddLearner adds node id, reachable at addr, to the quorum as a learner:
// it receives the metadata log but never votes. Adding a learner again
// with the same address does nothing; with another address, updates it.
// Only the leader accepts it. The address reaches every node through the
// log.
func (n *Node) AddLearner(ctx context.Context, id int32, addr string) error {
	if id < 0 || addr == "" || len(addr) > maxAddressBytes {
		return fmt.Errorf("%w: learner %d at %q", ErrConfig, id, addr)
	}
	return n.changeConf(ctx, pb.ConfChangeAddLearnerNode, id, addr)
}

// RemoveNode removes node id (a learner or a voter) from the quorum.
// Removing a node that is not a member does nothing.
func (n *Node) RemoveNode(ctx context.Context, id int32) error {
	if id < 0 {
		return fmt.Errorf("%w: node %d", ErrConfig, id)
	}
	return n.changeConf(ctx, pb.ConfChangeRemoveNode, id, "")
}

func (n *Node) changeConf(ctx context.Context, typ pb.ConfChangeType, id int32, addr string) error {
	if err := n.checkWritable(); err != nil {
		return err
	}
	// raft refuses a conf change while another is pending; serialising
	// ours avoids refusing our own.
	n.confMu.Lock()
	defer n.confMu.Unlock()
	return n.propose(ctx, func(t tag) *request {
		cc := &pb.ConfChange{Type: typ.Enum(), NodeId: new(raftID(id)), Id: new(t.id),
			Context: encodeConfContext(n.self, addr)}
		return &request{conf: cc}
	})
}

// checkWritable fails fast on a closed node or a follower.
func (n *Node) checkWritable() error {
	select {
	case <-n.done:
		return n.failure()
	default:
	}
	if !n.IsLeader() {
		return &NotLeaderError{Leader: n.Leader()}
	}
	return nil
}

// request is a proposal on its way to the Ready loop.
type request struct {
	p    *proposal
	data []byte         // a normal entry, or
	conf *pb.ConfChange // a conf change
}

// propose hands a request to the Ready loop and waits for its entry.
func (n *Node) propose(ctx context.Context, build func(tag) *request) error {
	select {
	case n.slots <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("%w: waiting for room among pending proposals: %w", ErrTimeout, ctx.Err())
	case <-n.done:
		return n.failure()
	}
	defer func() { <-n.slots }()

	p := &proposal{tag: tag{proposer: n.self, id: n.nextID.Add(1)}, done: make(chan error, 1)}
	req := build(p.tag)
	req.p = p
	n.pending.add(p)
	select {
	case n.propc <- req:
	case <-ctx.Done():
		n.pending.remove(p)
		return fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
	case <-n.done:
		n.pending.remove(p)
		return n.failure()
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		n.pending.remove(p)
		return fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
	case <-n.done:
		n.pending.remove(p)
		return n.failure()
	}
}

// Status describes the node, for diagnostics.
type Status struct {
	NodeID int32
	Leader int32 // -1 when unknown
	// Role is raft's: StateLeader, StateFollower, StateCandidate or
	// StatePreCandidate. Learner says whether this node is a learner.
	Role    string
	Learner bool
	Term    uint64
	// Commit and Applied are Raft log indexes; LastIndex is the last entry
	// in the log; SnapshotIndex the latest snapshot's.
	Commit, Applied, LastIndex, SnapshotIndex uint64
	// SnapshotsReceived counts snapshots installed from a leader since
	// Open.
	SnapshotsReceived int
	Voters, Learners  []int32
	// Members maps node ids to their transport addresses.
	Members map[int32]string
	// Match is, on the leader only, the highest log index known to be
	// held by each member, itself included (raft's Progress.Match); nil
	// on other nodes.
	Match map[int32]uint64
	// LastContact and CaughtUp are, on the leader only (nil elsewhere),
	// DescribeQuorum's LastFetchTimestamp and LastCaughtUpTimestamp: when
	// the leader last received a response (append or heartbeat) from each
	// member in its current term, and the latest time t at which that
	// member's log, as of its latest response, reached the leader's log
	// end at t (Kafka's KIP-836 meaning). The leader's own entries are the
	// time of the Status. A member not heard from in this term has no
	// LastContact; one never known caught up in this term no CaughtUp.
	LastContact, CaughtUp map[int32]time.Time
	// ImageOffset is the number of metadata records applied.
	ImageOffset int64
	// Err says why the node stopped, if it failed.
	Err error
}

// Status returns the node's state. After Close it reports what it can
// without the Ready loop.
func (n *Node) Status() Status {
	reply := make(chan Status, 1)
	select {
	case n.statusc <- reply:
		select {
		case s := <-reply:
			return s
		case <-n.done:
		}
	case <-n.done:
	}
	return Status{NodeID: n.cfg.NodeID, Leader: -1, ImageOffset: n.Image().Offset, Err: n.failure()}
}

// Close stops the node: the Ready loop, the transport and the WAL. The
// last image stays readable; writes fail with metadata.ErrClosed.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.mu.closed {
		n.mu.Unlock()
		return nil
	}
	n.mu.closed = true
	n.mu.Unlock()
	close(n.stopc)
	<-n.done
	n.closeTransport()
	return n.loop.st.close()
}

func (n *Node) closeTransport() {
	if n.tr != nil {
		n.tr.close()
	}
}

// failure is the error writes get once the loop has stopped.
func (n *Node) failure() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.err != nil {
		return fmt.Errorf("%w: %w", metadata.ErrClosed, n.mu.err)
	}
	return metadata.ErrClosed
}

// deliver hands a message from the transport to the Ready loop, dropping
// it when the loop is behind (raft retransmits).
func (n *Node) deliver(m *pb.Message) {
	select {
	case n.recvc <- m:
	default:
	}
}

// report hands a peer writer's report to the Ready loop. Unreachable
// reports may be dropped (they are hints); a snapshot's outcome must
// arrive, or raft would wait for it forever.
func (n *Node) report(r report) {
	if r.kind == reportUnreachable {
		select {
		case n.reportc <- r:
		default:
		}
		return
	}
	select {
	case n.reportc <- r:
	case <-n.stopc:
	}
}

// isMember reports whether Raft id may send us messages.
func (n *Node) isMember(id uint64) bool {
	_, ok := (*n.members.Load())[id]
	return ok
}

// publishMembers publishes the loop's address book to the transport.
func (n *Node) publishMembers() {
	m := maps.Clone(n.loop.addresses)
	n.members.Store(&m)
	if n.tr != nil {
		n.tr.setPeers(m)
	}
}

// errStopped is the loop's result when Close stopped it.
var errStopped = errors.New("quorum: stopped")
