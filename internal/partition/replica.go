package partition

// This file is the leader's side of replication (Kafka's ISR protocol, see
// docs/design/replication.md): the replica set and ISR the metadata image
// gives, each follower's progress as its fetches report it, the high
// watermark as the least log end over the ISR, and the ISR changes the
// leader proposes to the controller (AlterPartition, KIP-497).
//
// A partition that was never told about replicas (p.mu.replication nil) is
// a single-node replica: its ISR is itself and the high watermark is the
// end of its own durable data, exactly as before replication existed.
//
// Everything here is guarded by p.mu and does no I/O: the caller (the
// broker's fetch handler, the metadata follower) brings the clock in.

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Errors of the replication API and of acks=all produces.
var (
	// ErrNotEnoughReplicas: acks=all and the ISR is smaller than
	// min.insync.replicas; nothing was written (NOT_ENOUGH_REPLICAS).
	ErrNotEnoughReplicas = errors.New("partition: ISR smaller than min.insync.replicas")
	// ErrNotEnoughReplicasAfterAppend: acks=all, the data was written, but
	// the ISR shrank below min.insync.replicas while the request waited
	// (NOT_ENOUGH_REPLICAS_AFTER_APPEND).
	ErrNotEnoughReplicasAfterAppend = errors.New("partition: ISR shrank below min.insync.replicas after the append")
	// ErrStaleLeaderEpoch: a role change older than the partition's current
	// leader epoch; it was ignored.
	ErrStaleLeaderEpoch = errors.New("partition: stale leader epoch")
	// ErrUnknownReplica: a follower fetch from a broker that is not one of
	// the partition's replicas (NOT_LEADER_OR_FOLLOWER).
	ErrUnknownReplica = errors.New("partition: not a replica of this partition")
	// ErrNotFollower: a follower-only operation (AppendAsFollower,
	// TruncateTo) on the leader.
	ErrNotFollower = errors.New("partition: not a follower")
)

// replicaState is a partition's view of its replica set. Guarded by p.mu.
type replicaState struct {
	localID  int32 // this broker's id; -1 until SetLocalReplicaID
	leaderID int32 // the partition's leader as the image says (-1: none)

	// Leader only, all from the metadata image except as noted.
	replicas []int32
	isr      []int32 // committed: as the image shows it
	// pendingISR is the ISR proposed to the controller and not yet in the
	// image (nil: none). Until it is, the high watermark counts the union
	// of both (KIP-497's "maximal ISR"), so neither a shrink nor an expand
	// can make it move too early.
	pendingISR     []int32
	partitionEpoch int32 // of the last ISR applied; -1 after BecomeLeader
	// followers holds one entry per replica other than this one; its size
	// is bounded by the replica set, which comes from the controller, never
	// from a client.
	followers map[int32]*followerState
	// localEnd is the end of the leader's own durable data: the end of the
	// last storage append that returned (durable under the flush policy).
	localEnd int64
	// epochStartOffset is the log end offset when this leader epoch
	// began: a follower joins the ISR only once it has fetched past it,
	// i.e. once it holds this epoch's history (Kafka's rule).
	epochStartOffset int64
}

// followerState is what the leader knows of one follower.
type followerState struct {
	// fetchOffset is the follower's log end offset as its last fetch
	// reported it (-1: no fetch in this leader epoch yet). The follower
	// appends durably before it fetches again, so data below fetchOffset is
	// durable on it.
	fetchOffset int64
	// lastCaughtUp is the last time the follower's log reached the
	// leader's log end (Kafka's lastCaughtUpTimeMs).
	lastCaughtUp time.Time
	// lastFetch and lastFetchLeaderEnd are the previous fetch's time and
	// the leader's log end at that time: a fetch reaching lastFetchLeaderEnd
	// proves the follower was caught up at lastFetch.
	lastFetch          time.Time
	lastFetchLeaderEnd int64
}

// SetLocalReplicaID tells the partition which broker it lives on. The
// metadata follower calls it right after Open, before the first role and
// before the partition is served: it is also how the partition learns it
// is replicated, and its high watermark comes down to the checkpoint
// (hwcheckpoint.go).
func (p *Partition) SetLocalReplicaID(id int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.replicationLocked().localID = id
	p.replicatedLocked()
}

// replicationLocked returns the replica state, creating it on first use.
func (p *Partition) replicationLocked() *replicaState {
	if p.mu.replication == nil {
		p.mu.replication = &replicaState{localID: -1, leaderID: -1, partitionEpoch: -1}
	}
	return p.mu.replication
}

// BecomeLeader makes this replica the leader at epoch with the image's
// replica set and ISR; appends are stamped with epoch. A call older than
// the current leader epoch is ignored (ErrStaleLeaderEpoch). At the current
// epoch on a leader it only refreshes replicas and ISR (a reassignment or
// an ISR change the image shows); a new epoch forgets what followers had
// reported: each must fetch again before the high watermark counts it.
//
// The high watermark does not go back: the new leader keeps its own, and
// moves it once the ISR has fetched, committing the previous epochs' tail
// that it holds (Kafka's behaviour). Callers must stop the follower
// fetcher for this partition first (replication.Fetcher.Remove).
func (p *Partition) BecomeLeader(epoch int32, replicas, isr []int32) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.mu.closed:
		return ErrClosed
	case epoch < p.mu.leaderEpoch:
		return fmt.Errorf("%w: %d, current %d", ErrStaleLeaderEpoch, epoch, p.mu.leaderEpoch)
	}
	r := p.replicationLocked()
	if r.localID < 0 {
		panic("partition: BecomeLeader before SetLocalReplicaID")
	}
	now := p.now()
	newTerm := !p.mu.leader || epoch != p.mu.leaderEpoch || r.followers == nil
	r.replicas, r.isr, r.pendingISR = slices.Clone(replicas), slices.Clone(isr), nil
	r.leaderID = r.localID
	if newTerm {
		leo := p.Log.LogEndOffset()
		switch {
		case !p.mu.leader:
			// A follower's appends all returned (the fetcher was stopped),
			// so its whole log is durable under the flush policy.
			r.localEnd = leo
		case r.followers == nil:
			// A single-node leader until now, or fresh from Open: its
			// durable data ends at its high watermark, or at the end of
			// the log Open recovered, whose high watermark may have
			// started lower (from the checkpoint).
			r.localEnd = max(r.localEnd, p.highWatermark.Load(), p.mu.recoveredEnd)
		}
		r.epochStartOffset = leo
		r.partitionEpoch = -1
		r.followers = make(map[int32]*followerState, len(replicas))
	}
	for _, id := range r.replicas {
		if id == r.localID || r.followers[id] != nil {
			continue
		}
		// Kafka starts every follower's clock at the election: an ISR
		// member gets replica.lag.time.max.ms to fetch before it is
		// proposed for removal.
		r.followers[id] = &followerState{fetchOffset: -1, lastCaughtUp: now, lastFetchLeaderEnd: -1}
	}
	for id := range r.followers {
		if !slices.Contains(r.replicas, id) {
			delete(r.followers, id)
		}
	}
	p.mu.leader, p.mu.leaderEpoch = true, epoch
	p.raiseHighWatermarkLocked()
	p.notifyLocked()
	return nil
}

// UpdateFollowerFetch records a follower fetch at fetchOffset (the
// follower's log end offset) made at now, and moves the high watermark if
// the ISR now holds more. The fetch handler calls it once the fetch offset
// checked out (not diverging, not out of range), then answers with the new
// high watermark.
//
// On a partition not driven by metadata (single node) any replica id is
// accepted as an observer: it reads the log but counts for nothing.
func (p *Partition) UpdateFollowerFetch(replicaID int32, fetchOffset int64, now time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.mu.closed:
		return ErrClosed
	case !p.mu.leader:
		return ErrNotLeader
	}
	r := p.mu.replication
	if r == nil || r.followers == nil {
		return nil // single node: an observer
	}
	f := r.followers[replicaID]
	if f == nil {
		return fmt.Errorf("%w: replica %d", ErrUnknownReplica, replicaID)
	}
	leaderEnd := p.Log.LogEndOffset()
	switch {
	case fetchOffset >= leaderEnd:
		f.lastCaughtUp = now
	case fetchOffset >= f.lastFetchLeaderEnd && f.lastFetch.After(f.lastCaughtUp):
		// It reached what the leader had at its previous fetch: it was
		// caught up as of then.
		f.lastCaughtUp = f.lastFetch
	}
	f.lastFetch, f.lastFetchLeaderEnd, f.fetchOffset = now, leaderEnd, fetchOffset
	// Only a moved high watermark wakes the watchers (acks=all, consumers).
	// Waking them on every follower fetch would wake that follower's own
	// parked fetch, which records its fetch again on each read: a busy
	// loop for the whole of max_wait, and milliseconds on every acks=all
	// acknowledgement.
	if p.raiseHighWatermarkLocked() {
		p.notifyLocked()
	}
	return nil
}

// appendedAsLeader records that the leader's own log holds [.., end)
// durably (a storage append returned) and moves the high watermark.
func (p *Partition) appendedAsLeader(end int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.mu.leader {
		// An append that raced with BecomeFollower: the new leader decides
		// what is committed.
		p.notifyLocked()
		return
	}
	r := p.mu.replication
	if r == nil || r.followers == nil {
		// Single node: the ISR is this replica.
		if end > p.highWatermark.Load() {
			p.setHighWatermarkLocked(end)
		}
		p.notifyLocked()
		return
	}
	r.localEnd = max(r.localEnd, end)
	p.raiseHighWatermarkLocked()
	p.notifyLocked() // the log end moved: followers' parked fetches read on
}

// raiseHighWatermarkLocked sets the high watermark to the least log end
// over the (maximal) ISR if that is higher, and reports whether it moved.
// It wakes no one: callers whose event matters to watchers even when the
// high watermark stays (the log end moved, the ISR changed) notify
// themselves.
func (p *Partition) raiseHighWatermarkLocked() bool {
	r := p.mu.replication
	if !p.mu.leader || r == nil || r.followers == nil {
		return false
	}
	hw, ok := r.highWatermark()
	if ok && hw > p.highWatermark.Load() {
		p.setHighWatermarkLocked(hw)
		return true
	}
	return false
}

// highWatermark is the least log end offset over the committed and
// pending ISR, the leader's own being localEnd. ok is false while some
// member's position is unknown (no fetch in this epoch yet).
func (r *replicaState) highWatermark() (int64, bool) {
	hw := r.localEnd
	for _, set := range [2][]int32{r.isr, r.pendingISR} {
		for _, id := range set {
			if id == r.localID {
				continue
			}
			f := r.followers[id]
			if f == nil || f.fetchOffset < 0 {
				return 0, false
			}
			hw = min(hw, f.fetchOffset)
		}
	}
	return hw, true
}

// ISRChangeProposal returns the ISR the leader should propose to the
// controller (AlterPartition) at now, if it differs from the committed
// one: followers that have not caught up to the leader's log end for
// replica.lag.time.max.ms leave, replicas whose fetch offset reached the
// high watermark (and this epoch's start) join. The leader itself always
// stays. The proposal becomes pending: no other is made until ApplyISR
// shows the outcome or ClearPendingISR drops it (the controller refused).
func (p *Partition) ISRChangeProposal(now time.Time, replicaLagMaxMs int64) ([]int32, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.mu.replication
	if !p.mu.leader || p.mu.closed || r == nil || r.followers == nil || r.pendingISR != nil {
		return nil, false
	}
	leaderEnd := p.Log.LogEndOffset()
	hw := p.highWatermark.Load()
	lag := time.Duration(replicaLagMaxMs) * time.Millisecond
	proposal := make([]int32, 0, len(r.replicas))
	for _, id := range r.isr {
		f := r.followers[id]
		switch {
		case id == r.localID:
		case f == nil:
			continue // no longer a replica
		case f.fetchOffset < leaderEnd && now.Sub(f.lastCaughtUp) > lag:
			continue // lagging for too long: shrink it out
		}
		proposal = append(proposal, id)
	}
	if !slices.Contains(proposal, r.localID) {
		proposal = append(proposal, r.localID)
	}
	for _, id := range r.replicas {
		f := r.followers[id]
		// Only replicas outside the current ISR may join. A member this
		// pass just shrank out must not come straight back: its fetch
		// offset is what holds the high watermark where it is, so it is
		// always "at the high watermark" (a follower whose fetches stopped
		// at the HW would otherwise never leave the ISR, and acks=all would
		// wait on it forever). It rejoins once the shrink moved the high
		// watermark and it caught up with that, as in Kafka.
		if f == nil || slices.Contains(proposal, id) || slices.Contains(r.isr, id) {
			continue
		}
		if f.fetchOffset >= 0 && f.fetchOffset >= hw && f.fetchOffset >= r.epochStartOffset {
			proposal = append(proposal, id)
		}
	}
	if sameMembers(proposal, r.isr) {
		return nil, false
	}
	r.pendingISR = proposal
	return slices.Clone(proposal), true
}

// ApplyISR installs the ISR the metadata image shows at partitionEpoch
// and drops the pending proposal. An update older than the last applied
// one is ignored. A shrink can move the high watermark up (the laggards no
// longer hold it back).
func (p *Partition) ApplyISR(isr []int32, partitionEpoch int32) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.mu.replication
	switch {
	case p.mu.closed:
		return ErrClosed
	case !p.mu.leader || r == nil || r.followers == nil:
		return ErrNotLeader
	case partitionEpoch < r.partitionEpoch:
		return fmt.Errorf("%w: partition epoch %d, current %d", ErrStaleLeaderEpoch, partitionEpoch, r.partitionEpoch)
	}
	r.isr, r.pendingISR, r.partitionEpoch = slices.Clone(isr), nil, partitionEpoch
	p.raiseHighWatermarkLocked()
	// Waiters recheck min.insync.replicas against the new ISR.
	p.notifyLocked()
	return nil
}

// ClearPendingISR drops the pending ISR proposal (the controller refused
// it or the request failed), so the next ISRChangeProposal can try again.
func (p *Partition) ClearPendingISR() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r := p.mu.replication; r != nil {
		r.pendingISR = nil
	}
}

// ISR returns the committed ISR (nil on a partition not driven by
// metadata: a single node, whose ISR is itself).
func (p *Partition) ISR() []int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r := p.mu.replication; r != nil && p.mu.leader {
		return slices.Clone(r.isr)
	}
	return nil
}

// PendingISR returns the ISR proposed and not yet applied (nil: none).
func (p *Partition) PendingISR() []int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r := p.mu.replication; r != nil {
		return slices.Clone(r.pendingISR)
	}
	return nil
}

// checkMinInsync returns err when the committed ISR is smaller than
// min.insync.replicas (acks=all). A single node's ISR is itself.
func (p *Partition) checkMinInsync(err error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	size := 1
	if r := p.mu.replication; r != nil && r.followers != nil && p.mu.leader {
		size = len(r.isr)
	}
	if minISR := p.mu.cfg.MinInsyncReplicas; size < minISR {
		return fmt.Errorf("%w: ISR has %d, min.insync.replicas is %d", err, size, minISR)
	}
	return nil
}

// sameMembers reports whether a and b hold the same ids (no duplicates).
func sameMembers(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for _, id := range a {
		if !slices.Contains(b, id) {
			return false
		}
	}
	return true
}
