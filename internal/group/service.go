package group

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gregor-log/gregor/internal/record"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetsLog is one partition of __consumer_offsets as the Service uses
// it; the broker adapts a partition.Partition.
type OffsetsLog interface {
	// Append appends whole v2 batches and returns once they are committed
	// (acks=all: durable under the broker's flush policy).
	Append(ctx context.Context, batches []byte) error
	// ReadBatches returns whole batches from the batch holding offset, at
	// most maxBytes of them but at least one, none at or beyond the high
	// watermark; empty at the end.
	ReadBatches(offset int64, maxBytes int32) ([]byte, error)
	// HighWatermark is the offset after the last committed record.
	HighWatermark() int64
}

// Options configure a Service.
type Options struct {
	Config Config
	// Log returns a partition of __consumer_offsets.
	Log func(partition int32) (OffsetsLog, error)
	// TopicsVersion changes whenever the cluster's topics do; Topics
	// lists them. The Service calls Topics only when the version moved.
	TopicsVersion func() uint64
	Topics        func() []TopicInfo
	Logger        *slog.Logger
	// Now is the clock, for tests; time.Now by default.
	Now func() time.Time
}

const (
	// maxBatchBytes bounds one batch of coordinator records; a larger
	// write becomes several batches of one Append.
	maxBatchBytes = 512 << 10
	// readBytes is how much of __consumer_offsets one read of the replay
	// takes.
	readBytes = 1 << 20
	// writeTimeout bounds an append, so that a stuck disk fails commits
	// instead of hanging them forever.
	writeTimeout = 30 * time.Second
	// maxIdleTick bounds how long the timer goroutine sleeps: topic
	// changes (regex subscriptions, deleted topics) are noticed within it
	// even with no request coming in.
	maxIdleTick = time.Second
	// loadRetry is how long a partition that failed to load waits before
	// the next attempt.
	loadRetry = time.Second
)

// Service runs a Coordinator for the broker: it serialises calls, parks
// JoinGroup and SyncGroup until their answers, persists records before
// answering, loads __consumer_offsets at start, and drives Tick from one
// goroutine for the whole broker.
type Service struct {
	opts   Options
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	wake   chan struct{} // tells the timer goroutine a deadline moved earlier

	// mu guards everything below and the coordinator. No I/O is done
	// while holding it: appends happen after, in the caller's goroutine.
	mu            sync.Mutex
	core          *Coordinator
	waiting       map[Ticket]chan kmsg.Response
	lastTicket    Ticket
	topicsVersion uint64
	topicsSeen    bool
	armedAt       int64 // deadline the timer goroutine sleeps toward
	started       bool
	// loadGen counts Load and Unload calls per partition: a load running
	// for an older generation stops instead of replaying into a partition
	// that was unloaded (and maybe loaded again) meanwhile. Nil until Run.
	loadGen []uint64

	queues []*appendQueue // by partition; each has its own locks
}

// NewService returns a Service whose partitions are not loaded yet: its
// groups answer NOT_COORDINATOR until Start has loaded them.
func NewService(opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	core := New(opts.Config)
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{
		opts:    opts,
		log:     opts.Logger,
		ctx:     ctx,
		cancel:  cancel,
		wake:    make(chan struct{}, 1),
		core:    core,
		waiting: make(map[Ticket]chan kmsg.Response),
		queues:  make([]*appendQueue, core.cfg.OffsetsTopicPartitions),
	}
	for p := range s.queues {
		s.queues[p] = &appendQueue{partition: int32(p)}
	}
	return s
}

// Config is the coordinator's configuration, defaults applied.
func (s *Service) Config() Config { return s.core.cfg }

// Start loads every partition of __consumer_offsets in the background
// (their groups answer COORDINATOR_LOAD_IN_PROGRESS meanwhile) and starts
// the timer goroutine. It returns at once.
func (s *Service) Start() {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return
	}
	s.started = true
	for p := range s.core.cfg.OffsetsTopicPartitions {
		s.core.BeginLoad(p)
	}
	s.mu.Unlock()
	s.wg.Add(2)
	go func() { defer s.wg.Done(); s.load() }()
	go func() { defer s.wg.Done(); s.runTimers() }()
}

// Run starts the timer goroutine with no partition loaded: every group
// answers NOT_COORDINATOR until Load. It is Start for a cluster, where a
// node serves only the partitions of __consumer_offsets it leads.
func (s *Service) Run() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return
	}
	s.started = true
	s.loadGen = make([]uint64, s.core.cfg.OffsetsTopicPartitions)
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.runTimers() }()
}

// Load starts loading a partition this node now leads, in the background
// (its groups answer COORDINATOR_LOAD_IN_PROGRESS meanwhile). Loading or
// loaded already, it does nothing. Only after Run.
func (s *Service) Load(p int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loadGen == nil || p < 0 || int(p) >= len(s.loadGen) || s.ctx.Err() != nil || s.core.Owns(p) || s.core.Loading(p) {
		return
	}
	s.loadGen[p]++
	gen := s.loadGen[p]
	s.core.BeginLoad(p)
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.loadOne(p, gen) }()
}

// Unload stops serving a partition this node no longer leads: its groups
// are dropped (the new leader replays them from the log) and their parked
// requests answered NOT_COORDINATOR. Only after Run.
func (s *Service) Unload(p int32) {
	s.mu.Lock()
	if s.loadGen == nil || p < 0 || int(p) >= len(s.loadGen) || (!s.core.Owns(p) && !s.core.Loading(p)) {
		s.mu.Unlock()
		return
	}
	s.loadGen[p]++
	s.core.Unload(p)
	writes, replies := s.takeReadyLocked()
	s.mu.Unlock()
	if err := s.await(writes); err != nil {
		s.log.Warn("group coordinator: writes while unloading failed", "partition", p, "err", err)
	}
	s.deliver(replies)
	s.log.Info("group coordinator: unloaded", "partition", p)
}

// loadOne replays one partition for Load, retrying a failed read every
// loadRetry until it succeeds, the partition is unloaded or the Service
// closes.
func (s *Service) loadOne(p int32, gen uint64) {
	for {
		start := time.Now()
		n, err := s.loadPartition(p, gen)
		if s.ctx.Err() != nil || errors.Is(err, errLoadSuperseded) {
			return
		}
		s.mu.Lock()
		if s.loadGen[p] != gen {
			s.mu.Unlock()
			return
		}
		if err != nil {
			s.core.BeginLoad(p) // forget what the failed attempt replayed
			s.mu.Unlock()
			s.log.Error("group coordinator: loading __consumer_offsets failed; will retry", "partition", p, "err", err)
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(loadRetry):
			}
			continue
		}
		s.core.EndLoad(s.nowMs(), p)
		writes, replies := s.takeReadyLocked()
		s.mu.Unlock()
		if err := s.await(writes); err != nil {
			s.log.Warn("group coordinator: cleaning up after load failed", "partition", p, "err", err)
		}
		s.deliver(replies)
		s.log.Info("group coordinator: loaded", "partition", p, "records", n, "took", time.Since(start))
		return
	}
}

// errLoadSuperseded stops a load whose partition was unloaded meanwhile.
var errLoadSuperseded = errors.New("group: partition unloaded during its load")

// Close stops the goroutines; requests still parked are answered
// COORDINATOR_NOT_AVAILABLE by their contexts ending (the broker closes
// their connections).
func (s *Service) Close() {
	// Under mu: Load checks ctx and adds to wg under it, so no load
	// goroutine starts once Wait may have begun.
	s.mu.Lock()
	s.cancel()
	s.mu.Unlock()
	s.wg.Wait()
}

// Loaded reports whether every partition has been loaded.
func (s *Service) Loaded() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p := range s.core.cfg.OffsetsTopicPartitions {
		if !s.core.Owns(p) {
			return false
		}
	}
	return true
}

func (s *Service) nowMs() int64 { return s.opts.Now().UnixMilli() }

// syncTopicsLocked hands the coordinator the topics when they changed.
func (s *Service) syncTopicsLocked(now int64) {
	if s.opts.TopicsVersion == nil || s.opts.Topics == nil {
		return
	}
	v := s.opts.TopicsVersion()
	if s.topicsSeen && v == s.topicsVersion {
		return
	}
	s.topicsSeen, s.topicsVersion = true, v
	s.core.SetTopics(now, s.opts.Topics())
}

// call runs fn on the coordinator and persists what it wrote. When
// parks, fn may return nil: the answer then comes later and call waits for
// it (or for ctx). The answer is given only once the call's records are
// durable; werr reports a failed append.
func (s *Service) call(ctx context.Context, parks bool, fn func(c *Coordinator, now int64, t Ticket) kmsg.Response) (resp kmsg.Response, werr error, err error) {
	var ch chan kmsg.Response
	s.mu.Lock()
	now := s.nowMs()
	s.syncTopicsLocked(now)
	var t Ticket
	if parks {
		s.lastTicket++
		t = s.lastTicket
		ch = make(chan kmsg.Response, 1)
		s.waiting[t] = ch
	}
	resp = fn(s.core, now, t)
	if resp != nil && parks {
		delete(s.waiting, t)
	}
	writes, replies := s.takeReadyLocked()
	s.mu.Unlock()

	werr = s.await(writes)
	s.deliver(replies)
	if resp != nil || !parks {
		return resp, werr, nil
	}
	select {
	case r := <-ch:
		return r, werr, nil
	case <-ctx.Done():
		s.mu.Lock()
		delete(s.waiting, t)
		s.mu.Unlock()
		return nil, werr, ctx.Err()
	case <-s.ctx.Done():
		return nil, werr, errors.New("group: coordinator closed")
	}
}

// takeReadyLocked queues the coordinator's records for appending and
// returns what to wait for, with the replies to deliver after; it also
// wakes the timer goroutine if a deadline moved earlier.
func (s *Service) takeReadyLocked() ([]*pendingWrite, []Reply) {
	r := s.core.Ready()
	var writes []*pendingWrite
	if len(r.Records) > 0 {
		byPartition := make(map[int32][]Record)
		var order []int32
		for _, rec := range r.Records {
			if _, ok := byPartition[rec.Partition]; !ok {
				order = append(order, rec.Partition)
			}
			byPartition[rec.Partition] = append(byPartition[rec.Partition], rec)
		}
		for _, p := range order {
			writes = append(writes, s.queues[p].push(byPartition[p]))
		}
	}
	if at, ok := s.core.NextDeadline(); ok && at < s.armedAt {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return writes, r.Replies
}

func (s *Service) await(writes []*pendingWrite) error {
	var errs []error
	for _, w := range writes {
		if err := s.queues[w.partition].wait(s, w); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Service) deliver(replies []Reply) {
	if len(replies) == 0 {
		return
	}
	s.mu.Lock()
	chans := make([]chan kmsg.Response, len(replies))
	for i, r := range replies {
		chans[i] = s.waiting[r.Ticket]
		delete(s.waiting, r.Ticket)
	}
	s.mu.Unlock()
	for i, ch := range chans {
		if ch != nil {
			ch <- replies[i].Response // buffered for one: never blocks
		}
	}
}

// runTimers is the broker's one timer goroutine: it sleeps until the
// coordinator's next deadline and ticks it.
func (s *Service) runTimers() {
	t := time.NewTimer(maxIdleTick)
	defer t.Stop()
	for {
		s.mu.Lock()
		now := s.nowMs()
		s.armedAt = now + maxIdleTick.Milliseconds()
		if at, ok := s.core.NextDeadline(); ok && at < s.armedAt {
			s.armedAt = at
		}
		d := time.Duration(max(s.armedAt-now, 0)) * time.Millisecond
		s.mu.Unlock()
		t.Reset(d)
		select {
		case <-s.ctx.Done():
			return
		case <-s.wake:
			t.Stop() // Go 1.23+ timers: no stale tick after Stop or Reset
		case <-t.C:
		}
		s.mu.Lock()
		now = s.nowMs()
		s.syncTopicsLocked(now)
		s.core.Tick(now)
		writes, replies := s.takeReadyLocked()
		s.mu.Unlock()
		if err := s.await(writes); err != nil {
			s.log.Warn("group coordinator: persisting timer changes failed", "err", err)
		}
		s.deliver(replies)
	}
}

// load replays every partition of __consumer_offsets, then serves it. A
// partition that cannot be read is retried (every loadRetry) rather than
// served from a partial state: its groups answer
// COORDINATOR_LOAD_IN_PROGRESS meanwhile, and clients retry.
func (s *Service) load() {
	pending := make([]int32, 0, s.core.cfg.OffsetsTopicPartitions)
	for p := range s.core.cfg.OffsetsTopicPartitions {
		pending = append(pending, p)
	}
	for len(pending) > 0 {
		var failed []int32
		for _, p := range pending {
			start := time.Now()
			n, err := s.loadPartition(p, 0)
			if s.ctx.Err() != nil {
				return
			}
			if err != nil {
				s.log.Error("group coordinator: loading __consumer_offsets failed; will retry", "partition", p, "err", err)
				failed = append(failed, p)
				s.mu.Lock()
				s.core.BeginLoad(p) // forget what the failed attempt replayed
				s.mu.Unlock()
				continue
			}
			s.mu.Lock()
			s.core.EndLoad(s.nowMs(), p)
			writes, replies := s.takeReadyLocked()
			s.mu.Unlock()
			if err := s.await(writes); err != nil {
				s.log.Warn("group coordinator: cleaning up after load failed", "partition", p, "err", err)
			}
			s.deliver(replies)
			if n > 0 {
				s.log.Info("group coordinator: loaded", "partition", p, "records", n, "took", time.Since(start))
			}
		}
		pending = failed
		if len(pending) > 0 {
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(loadRetry):
			}
		}
	}
}

// loadPartition replays partition p; gen, when not 0, is the Load
// generation the replay belongs to (errLoadSuperseded once it moved).
func (s *Service) loadPartition(p int32, gen uint64) (int, error) {
	lg, err := s.opts.Log(p)
	if err != nil {
		return 0, err
	}
	end := lg.HighWatermark()
	var it record.RecordIter
	n := 0
	for offset := int64(0); offset < end; {
		if s.ctx.Err() != nil {
			return n, s.ctx.Err()
		}
		buf, err := lg.ReadBatches(offset, readBytes)
		if err != nil {
			return n, fmt.Errorf("reading at offset %d: %w", offset, err)
		}
		if len(buf) == 0 {
			break
		}
		batches := record.Batches(buf)
		moved := false
		for batches.Next() {
			h := batches.Header()
			offset, moved = h.NextOffset(), true
			if h.Control() {
				continue
			}
			if err := it.Reset(batches.Batch(), 0); err != nil {
				s.log.Error("group coordinator: skipping an unreadable batch", "partition", p, "offset", h.BaseOffset, "err", err)
				continue
			}
			s.mu.Lock()
			if gen != 0 && s.loadGen[p] != gen {
				s.mu.Unlock()
				return n, errLoadSuperseded
			}
			for r, ok := it.Next(); ok; r, ok = it.Next() {
				if r.Offset >= end {
					break
				}
				if err := s.core.Replay(p, r.Key, r.Value); err != nil {
					s.log.Warn("group coordinator: skipping a record", "partition", p, "offset", r.Offset, "err", err)
				}
				n++
			}
			s.mu.Unlock()
			if err := it.Err(); err != nil {
				s.log.Error("group coordinator: batch ended early", "partition", p, "offset", h.BaseOffset, "err", err)
			}
		}
		if err := batches.Err(); err != nil {
			return n, fmt.Errorf("batch at offset %d: %w", offset, err)
		}
		if !moved {
			break
		}
	}
	return n, nil
}

// pendingWrite is one call's records for one partition; done closes once
// they are appended (or failed, err).
type pendingWrite struct {
	partition int32
	records   []Record
	done      chan struct{}
	err       error
}

// appendQueue orders the appends of one partition: records are queued in
// the coordinator's order (under Service.mu), and whoever waits first
// appends everything queued so far in one go, so concurrent commits share
// an fsync (group commit) and the log keeps the coordinator's order.
type appendQueue struct {
	partition int32
	mu        sync.Mutex // guards pending
	pending   []*pendingWrite
	writer    sync.Mutex // held while appending
}

func (q *appendQueue) push(records []Record) *pendingWrite {
	w := &pendingWrite{partition: q.partition, records: records, done: make(chan struct{})}
	q.mu.Lock()
	q.pending = append(q.pending, w)
	q.mu.Unlock()
	return w
}

func (q *appendQueue) wait(s *Service, w *pendingWrite) error {
	select {
	case <-w.done:
		return w.err
	default:
	}
	q.writer.Lock()
	defer q.writer.Unlock()
	select {
	case <-w.done: // another waiter appended ours
		return w.err
	default:
	}
	q.mu.Lock()
	batch := q.pending
	q.pending = nil
	q.mu.Unlock()
	err := s.append(q.partition, batch)
	for _, b := range batch {
		b.err = err
		close(b.done)
	}
	return w.err
}

// append writes the records of several calls as batches of one Append.
func (s *Service) append(p int32, writes []*pendingWrite) error {
	lg, err := s.opts.Log(p)
	if err != nil {
		return err
	}
	now := s.nowMs()
	var batches []byte
	b := record.NewBuilder(0, record.CodecNone)
	size := 0
	flush := func() error {
		if b.Len() == 0 {
			return nil
		}
		var err error
		batches, err = b.AppendTo(batches)
		b.Reset()
		size = 0
		return err
	}
	for _, w := range writes {
		for _, r := range w.records {
			if size > 0 && size+len(r.Key)+len(r.Value) > maxBatchBytes {
				if err := flush(); err != nil {
					return err
				}
			}
			b.Add(now, r.Key, r.Value)
			size += len(r.Key) + len(r.Value) + 16
		}
	}
	if err := flush(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(s.ctx, writeTimeout)
	defer cancel()
	return lg.Append(ctx, batches)
}

// The requests. Each returns the response to send; an error means the
// request cannot be answered (the context ended) and the connection
// should close.

// JoinGroup handles a JoinGroup, waiting until the rebalance completes.
func (s *Service) JoinGroup(ctx context.Context, cl Client, req *kmsg.JoinGroupRequest) (*kmsg.JoinGroupResponse, error) {
	r, _, err := s.call(ctx, true, func(c *Coordinator, now int64, t Ticket) kmsg.Response {
		if resp := c.JoinGroup(now, t, cl, req); resp != nil {
			return resp
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r.(*kmsg.JoinGroupResponse), nil
}

// SyncGroup handles a SyncGroup, waiting for the leader's assignment.
func (s *Service) SyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) (*kmsg.SyncGroupResponse, error) {
	r, werr, err := s.call(ctx, true, func(c *Coordinator, now int64, t Ticket) kmsg.Response {
		if resp := c.SyncGroup(now, t, req); resp != nil {
			return resp
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	resp := r.(*kmsg.SyncGroupResponse)
	if werr != nil && resp.ErrorCode == 0 {
		// Kafka fails the sync when the group could not be stored; the
		// members rejoin.
		s.log.Warn("group coordinator: storing the group failed", "group", req.Group, "err", werr)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		resp.MemberAssignment = nil
	}
	return resp, nil
}

// Heartbeat handles a classic Heartbeat.
func (s *Service) Heartbeat(ctx context.Context, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	r, _, _ := s.call(ctx, false, func(c *Coordinator, now int64, _ Ticket) kmsg.Response { return c.Heartbeat(now, req) })
	return r.(*kmsg.HeartbeatResponse)
}

// LeaveGroup handles a LeaveGroup.
func (s *Service) LeaveGroup(ctx context.Context, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	r, _, _ := s.call(ctx, false, func(c *Coordinator, now int64, _ Ticket) kmsg.Response { return c.LeaveGroup(now, req) })
	return r.(*kmsg.LeaveGroupResponse)
}

// OffsetCommit handles an OffsetCommit, answering once the offsets are
// durable.
func (s *Service) OffsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	r, werr, _ := s.call(ctx, false, func(c *Coordinator, now int64, _ Ticket) kmsg.Response { return c.OffsetCommit(now, req) })
	resp := r.(*kmsg.OffsetCommitResponse)
	if werr != nil {
		s.log.Warn("group coordinator: persisting offsets failed", "group", req.Group, "err", werr)
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				if resp.Topics[i].Partitions[j].ErrorCode == 0 {
					// Retriable: the client commits again.
					resp.Topics[i].Partitions[j].ErrorCode = kerr.CoordinatorNotAvailable.Code
				}
			}
		}
	}
	return resp
}

// OffsetFetch handles an OffsetFetch.
func (s *Service) OffsetFetch(ctx context.Context, req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	r, _, _ := s.call(ctx, false, func(c *Coordinator, _ int64, _ Ticket) kmsg.Response { return c.OffsetFetch(req) })
	return r.(*kmsg.OffsetFetchResponse)
}

// OffsetDelete handles an OffsetDelete.
func (s *Service) OffsetDelete(ctx context.Context, req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse {
	r, werr, _ := s.call(ctx, false, func(c *Coordinator, _ int64, _ Ticket) kmsg.Response { return c.OffsetDelete(req) })
	resp := r.(*kmsg.OffsetDeleteResponse)
	if werr != nil && resp.ErrorCode == 0 {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
	}
	return resp
}

// ListGroups handles a ListGroups.
func (s *Service) ListGroups(ctx context.Context, req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	r, _, _ := s.call(ctx, false, func(c *Coordinator, _ int64, _ Ticket) kmsg.Response { return c.ListGroups(req) })
	return r.(*kmsg.ListGroupsResponse)
}

// DescribeGroups handles a DescribeGroups.
func (s *Service) DescribeGroups(ctx context.Context, req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	r, _, _ := s.call(ctx, false, func(c *Coordinator, _ int64, _ Ticket) kmsg.Response { return c.DescribeGroups(req) })
	return r.(*kmsg.DescribeGroupsResponse)
}

// DeleteGroups handles a DeleteGroups.
func (s *Service) DeleteGroups(ctx context.Context, req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	r, werr, _ := s.call(ctx, false, func(c *Coordinator, _ int64, _ Ticket) kmsg.Response { return c.DeleteGroups(req) })
	resp := r.(*kmsg.DeleteGroupsResponse)
	if werr != nil {
		// The groups are gone from memory; their tombstones may not be on
		// disk, so a restart could bring them back. Say so.
		for i := range resp.Groups {
			if resp.Groups[i].ErrorCode == 0 {
				resp.Groups[i].ErrorCode = kerr.CoordinatorNotAvailable.Code
			}
		}
	}
	return resp
}

// ConsumerGroupHeartbeat handles a KIP-848 ConsumerGroupHeartbeat.
func (s *Service) ConsumerGroupHeartbeat(ctx context.Context, cl Client, req *kmsg.ConsumerGroupHeartbeatRequest) *kmsg.ConsumerGroupHeartbeatResponse {
	r, _, _ := s.call(ctx, false, func(c *Coordinator, now int64, _ Ticket) kmsg.Response {
		return c.ConsumerGroupHeartbeat(now, cl, req)
	})
	return r.(*kmsg.ConsumerGroupHeartbeatResponse)
}

// ConsumerGroupDescribe handles a ConsumerGroupDescribe.
func (s *Service) ConsumerGroupDescribe(ctx context.Context, req *kmsg.ConsumerGroupDescribeRequest) *kmsg.ConsumerGroupDescribeResponse {
	r, _, _ := s.call(ctx, false, func(c *Coordinator, _ int64, _ Ticket) kmsg.Response { return c.ConsumerGroupDescribe(req) })
	return r.(*kmsg.ConsumerGroupDescribeResponse)
}

// GroupCoordinatorError is FindCoordinator's error for a group: 0 when
// this node coordinates it (loaded or loading), NOT_COORDINATOR otherwise.
func (s *Service) GroupCoordinatorError(group string) int16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.core.GroupCoordinatorError(group)
}
