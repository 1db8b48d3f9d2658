package replication

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/gregor-log/gregor/internal/record"
	"github.com/gregor-log/gregor/internal/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TopicPartition names a followed partition. TopicID is the topic's id
// from the metadata image; with it the fetcher can use Fetch v13+, which
// names topics by id.
type TopicPartition struct {
	Topic     string
	TopicID   [16]byte
	Partition int32
}

// Replica is what the fetcher needs of a follower partition
// (*partition.Partition).
type Replica interface {
	LogStartOffset() int64
	LogEndOffset() int64
	HighWatermark() int64
	LatestLeaderEpoch() int32
	EndOffsetForEpoch(epoch int32) (int32, int64)
	AppendAsFollower(batches []byte, leaderHighWatermark int64) (storage.AppendResult, error)
	TruncateTo(offset int64) error
	TruncateFullyAndStartAt(offset int64) error
}

// LeaderClient sends requests to the leader broker a Fetcher copies from.
type LeaderClient interface {
	Fetch(ctx context.Context, req *kmsg.FetchRequest) (*kmsg.FetchResponse, error)
	OffsetForLeaderEpoch(ctx context.Context, req *kmsg.OffsetForLeaderEpochRequest) (*kmsg.OffsetForLeaderEpochResponse, error)
	ListOffsets(ctx context.Context, req *kmsg.ListOffsetsRequest) (*kmsg.ListOffsetsResponse, error)
}

// Config is a Fetcher's settings, named after Kafka's broker configs. Zero
// fields take Kafka's defaults.
type Config struct {
	// ReplicaID is this broker's node id, sent as the fetch's replica id.
	ReplicaID int32
	// MinBytes is replica.fetch.min.bytes (default 1).
	MinBytes int32
	// MaxWait is replica.fetch.wait.max.ms (default 500 ms).
	MaxWait time.Duration
	// PartitionMaxBytes is replica.fetch.max.bytes (default 1 MiB): per
	// partition, at least one batch.
	PartitionMaxBytes int32
	// ResponseMaxBytes is replica.fetch.response.max.bytes (default 10 MiB).
	ResponseMaxBytes int32
	// Backoff is replica.fetch.backoff.ms (default 1 s): the longest pause
	// after an error before a partition (or, after a failed request, the
	// fetcher) tries again. A partition's pauses start at firstBackoff and
	// double up to it, so the common transient error (a follower that
	// learned of a new partition before its leader opened it) costs
	// milliseconds, not a second of every acks=all write to a new topic.
	Backoff time.Duration
	// Throttle limits the bytes fetched for the partitions marked with
	// SetThrottled; nil: no limit. One Throttle is shared by every
	// fetcher of the broker, as Kafka's rate is per broker.
	Throttle *Throttle
	Logger   *slog.Logger
}

func (c *Config) applyDefaults() {
	if c.MinBytes <= 0 {
		c.MinBytes = 1
	}
	if c.MaxWait <= 0 {
		c.MaxWait = 500 * time.Millisecond
	}
	if c.PartitionMaxBytes <= 0 {
		c.PartitionMaxBytes = 1 << 20
	}
	if c.ResponseMaxBytes <= 0 {
		c.ResponseMaxBytes = 10 << 20
	}
	if c.Backoff <= 0 {
		c.Backoff = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// partitionState is where a followed partition is in the protocol.
type partitionState int

const (
	// truncating: the log's latest epoch must be checked against the
	// leader (OffsetForLeaderEpoch) before fetching.
	truncating partitionState = iota
	fetching
	// outOfRange: the leader answered OFFSET_OUT_OF_RANGE; its log start
	// decides between restarting the log there and an epoch check.
	outOfRange
	// fenced: the leader has a newer epoch than ours; wait for an Add.
	fenced
)

// followed is one partition the fetcher copies.
type followed struct {
	replica     Replica
	leaderEpoch int32
	state       partitionState
	// delayedUntil: after an error the partition sits out until then.
	delayedUntil time.Time
	// backoff is the last pause; zero after a successful append.
	backoff time.Duration
}

// firstBackoff is a partition's first pause after an error.
const firstBackoff = 20 * time.Millisecond

// Fetcher copies every partition this broker follows on one leader broker,
// from one goroutine. Its methods are safe for concurrent use.
type Fetcher struct {
	cfg    Config
	client LeaderClient
	cancel context.CancelFunc
	done   chan struct{}
	// wake has room for one signal: Add and Remove nudge an idle loop.
	wake chan struct{}

	// mu guards parts and is held while a response is applied to the
	// replicas, so Remove returns only once its replica is left alone.
	// It is never held over the network.
	mu sync.Mutex
	// parts is bounded by the partitions this broker follows on the
	// leader, which the metadata image decides.
	parts map[TopicPartition]*followed
	// throttled marks partitions whose fetches cfg.Throttle limits; it
	// outlives an Add at a new epoch, and Remove drops the mark. Bounded
	// like parts.
	throttled map[TopicPartition]bool
}

// New starts a Fetcher that copies from the leader client reaches.
func New(cfg Config, client LeaderClient) *Fetcher {
	cfg.applyDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	f := &Fetcher{
		cfg: cfg, client: client, cancel: cancel,
		done:      make(chan struct{}),
		wake:      make(chan struct{}, 1),
		parts:     make(map[TopicPartition]*followed),
		throttled: make(map[TopicPartition]bool),
	}
	go f.run(ctx)
	return f
}

// Add follows tp on this fetcher's leader at leaderEpoch. An Add for a
// partition already followed at the same or a newer epoch changes
// nothing; a newer epoch restarts it with a truncation check.
func (f *Fetcher) Add(tp TopicPartition, r Replica, leaderEpoch int32) {
	f.mu.Lock()
	if old := f.parts[tp]; old == nil || old.replica != r || leaderEpoch > old.leaderEpoch {
		f.parts[tp] = &followed{replica: r, leaderEpoch: leaderEpoch, state: truncating}
	}
	f.mu.Unlock()
	f.nudge()
}

// Remove stops following tp. When it returns, the fetcher will not touch
// the replica again.
func (f *Fetcher) Remove(tp TopicPartition) {
	f.mu.Lock()
	delete(f.parts, tp)
	delete(f.throttled, tp)
	f.mu.Unlock()
	f.nudge()
}

// SetThrottled marks tp (a partition followed here) as limited by the
// configured Throttle, or lifts the mark.
func (f *Fetcher) SetThrottled(tp TopicPartition, on bool) {
	f.mu.Lock()
	if _, ok := f.parts[tp]; ok && on {
		f.throttled[tp] = true
	} else {
		delete(f.throttled, tp)
	}
	f.mu.Unlock()
	f.nudge()
}

// Len is the number of partitions followed.
func (f *Fetcher) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.parts)
}

// Close stops the fetcher and waits for its goroutine.
func (f *Fetcher) Close() {
	f.cancel()
	<-f.done
}

func (f *Fetcher) nudge() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// run is the fetcher's loop: truncation checks first, then one fetch for
// every partition ready to fetch; idle when there is nothing to do.
func (f *Fetcher) run(ctx context.Context) {
	defer close(f.done)
	for ctx.Err() == nil {
		now := time.Now()
		toReset, toTruncate, toFetch, nextReady := f.plan(now)
		if len(toReset) == 0 && len(toTruncate) == 0 && len(toFetch) == 0 {
			f.idle(ctx, nextReady, now)
			continue
		}
		for _, s := range toReset {
			f.reset(ctx, s)
		}
		if len(toTruncate) > 0 {
			f.truncate(ctx, toTruncate)
		}
		if len(toFetch) > 0 && !f.fetch(ctx, toFetch) {
			f.pause(ctx, f.cfg.Backoff)
		}
	}
}

// sent is one partition of a request in flight, with the state it was
// sent for: a response applies only if the partition is still that one.
type sent struct {
	tp TopicPartition
	p  *followed
}

// plan lists the partitions to reset, to truncate and to fetch now, and
// when the next delayed one becomes ready (zero: none).
func (f *Fetcher) plan(now time.Time) (toReset, toTruncate, toFetch []sent, nextReady time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	// Throttled partitions wait while the bucket is in debt; they look
	// again at least every second, so a lifted throttle is seen soon.
	var throttledUntil time.Time
	if len(f.throttled) > 0 {
		if d := f.cfg.Throttle.Delay(now); d > 0 {
			throttledUntil = now.Add(min(d, time.Second))
		}
	}
	for tp, p := range f.parts {
		if p.state == fenced {
			continue
		}
		delayedUntil := p.delayedUntil
		if p.state == fetching && f.throttled[tp] && throttledUntil.After(delayedUntil) {
			delayedUntil = throttledUntil
		}
		if now.Before(delayedUntil) {
			if nextReady.IsZero() || delayedUntil.Before(nextReady) {
				nextReady = delayedUntil
			}
			continue
		}
		switch p.state {
		case outOfRange:
			toReset = append(toReset, sent{tp, p})
		case truncating:
			toTruncate = append(toTruncate, sent{tp, p})
		default:
			toFetch = append(toFetch, sent{tp, p})
		}
	}
	return toReset, toTruncate, toFetch, nextReady
}

// idle waits for an Add or Remove, the next delayed partition, or the end.
func (f *Fetcher) idle(ctx context.Context, nextReady, now time.Time) {
	var timer <-chan time.Time
	if !nextReady.IsZero() {
		t := time.NewTimer(nextReady.Sub(now))
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
	case <-f.wake:
	case <-timer:
	}
}

// pause waits d (after a failed request) or until the end.
func (f *Fetcher) pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// current reports whether s is still the followed state of its partition;
// f.mu must be held.
func (f *Fetcher) currentLocked(s sent) bool { return f.parts[s.tp] == s.p }

// delayLocked sets a partition aside for its next backoff; f.mu must be
// held.
func (f *Fetcher) delayLocked(p *followed) {
	p.backoff = min(max(2*p.backoff, firstBackoff), f.cfg.Backoff)
	p.delayedUntil = time.Now().Add(p.backoff)
}

// truncate checks each partition's latest epoch with the leader and
// truncates what diverges (KIP-101/279).
func (f *Fetcher) truncate(ctx context.Context, parts []sent) {
	var ask []sent
	f.mu.Lock()
	for _, s := range parts {
		if !f.currentLocked(s) {
			continue
		}
		if s.p.replica.LatestLeaderEpoch() < 0 {
			// No epoch in the log: nothing written that could diverge.
			s.p.state = fetching
			continue
		}
		ask = append(ask, s)
	}
	f.mu.Unlock()
	if len(ask) == 0 {
		return
	}
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.ReplicaID = f.cfg.ReplicaID
	byTopic := make(map[string]int)
	for _, s := range ask {
		i, ok := byTopic[s.tp.Topic]
		if !ok {
			i = len(req.Topics)
			byTopic[s.tp.Topic] = i
			t := kmsg.NewOffsetForLeaderEpochRequestTopic()
			t.Topic = s.tp.Topic
			req.Topics = append(req.Topics, t)
		}
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition = s.tp.Partition
		rp.CurrentLeaderEpoch = s.p.leaderEpoch
		rp.LeaderEpoch = s.p.replica.LatestLeaderEpoch()
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	resp, err := f.client.OffsetForLeaderEpoch(ctx, req)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		f.cfg.Logger.Debug("replication: OffsetForLeaderEpoch failed", "error", err)
		for _, s := range ask {
			if f.currentLocked(s) {
				f.delayLocked(s.p)
			}
		}
		return
	}
	answered := make(map[TopicPartition]*kmsg.OffsetForLeaderEpochResponseTopicPartition, len(ask))
	for i := range resp.Topics {
		t := &resp.Topics[i]
		for j := range t.Partitions {
			answered[TopicPartition{Topic: t.Topic, Partition: t.Partitions[j].Partition}] = &t.Partitions[j]
		}
	}
	for _, s := range ask {
		if !f.currentLocked(s) {
			continue
		}
		rp := answered[TopicPartition{Topic: s.tp.Topic, Partition: s.tp.Partition}]
		if rp == nil {
			f.delayLocked(s.p)
			continue
		}
		if !f.handleErrorLocked(s, rp.ErrorCode) {
			continue
		}
		f.applyTruncationLocked(s, rp.LeaderEpoch, rp.EndOffset)
	}
}

// applyTruncationLocked truncates s's replica after the leader said its
// epoch leaderEpoch ends at leaderEnd, and moves it to fetching once the
// logs agree.
func (f *Fetcher) applyTruncationLocked(s sent, leaderEpoch int32, leaderEnd int64) {
	r := s.p.replica
	offset, done := truncationOffset(leaderEpoch, leaderEnd, r)
	if offset < r.LogEndOffset() {
		if err := r.TruncateTo(offset); err != nil {
			f.cfg.Logger.Warn("replication: truncation failed", "topic", s.tp.Topic, "partition", s.tp.Partition, "offset", offset, "error", err)
			f.delayLocked(s.p)
			return
		}
	}
	if done {
		s.p.state = fetching
	} else {
		s.p.state = truncating
	}
}

// truncationOffset is Kafka's rule for where a follower truncates once the
// leader answered that epoch leaderEpoch ends at leaderEnd (KIP-279), and
// whether the logs then agree (false: ask again about the new latest
// epoch).
func truncationOffset(leaderEpoch int32, leaderEnd int64, r Replica) (int64, bool) {
	leo := r.LogEndOffset()
	if leaderEpoch < 0 || leaderEnd < 0 {
		// The leader knows no epoch at or below ours: keep what is
		// committed only.
		return min(r.HighWatermark(), leo), true
	}
	followerEpoch, followerEnd := r.EndOffsetForEpoch(leaderEpoch)
	switch {
	case followerEpoch < 0:
		return min(leaderEnd, leo), true
	case followerEpoch != leaderEpoch:
		// We never had the leader's epoch: drop everything after our
		// last epoch below it, then ask about that one.
		return followerEnd, false
	}
	return min(leaderEnd, followerEnd), true
}

// handleErrorLocked applies a partition-level error code; it reports
// whether the answer is usable (no error).
func (f *Fetcher) handleErrorLocked(s sent, code int16) bool {
	switch code {
	case 0:
		return true
	case kerr.FencedLeaderEpoch.Code:
		// The leader is past our epoch: new metadata will Add it again.
		s.p.state = fenced
	default:
		// NOT_LEADER_OR_FOLLOWER, UNKNOWN_LEADER_EPOCH (the leader has not
		// seen the metadata yet), UNKNOWN_TOPIC_OR_PARTITION, storage
		// errors: try again after the backoff.
		f.delayLocked(s.p)
	}
	return false
}

// fetch sends one Fetch for parts and applies the answer; false when the
// request itself failed.
func (f *Fetcher) fetch(ctx context.Context, parts []sent) bool {
	req := f.fetchRequest(parts)
	resp, err := f.client.Fetch(ctx, req)
	if err != nil {
		if ctx.Err() == nil {
			f.cfg.Logger.Debug("replication: fetch failed", "error", err)
		}
		return false
	}
	if resp.ErrorCode != 0 {
		f.cfg.Logger.Debug("replication: fetch refused", "error", kerr.ErrorForCode(resp.ErrorCode))
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// v13+ answers name topics by id, older ones by name.
	answered := make(map[TopicPartition]*kmsg.FetchResponseTopicPartition)
	for i := range resp.Topics {
		t := &resp.Topics[i]
		for j := range t.Partitions {
			key := TopicPartition{Topic: t.Topic, Partition: t.Partitions[j].Partition}
			if t.TopicID != ([16]byte{}) {
				key = TopicPartition{TopicID: t.TopicID, Partition: t.Partitions[j].Partition}
			}
			answered[key] = &t.Partitions[j]
		}
	}
	for _, s := range parts {
		if !f.currentLocked(s) {
			continue
		}
		rp := answered[TopicPartition{Topic: s.tp.Topic, Partition: s.tp.Partition}]
		if rp == nil {
			rp = answered[TopicPartition{TopicID: s.tp.TopicID, Partition: s.tp.Partition}]
		}
		if rp == nil {
			continue // left out of this answer (a response limit): next time
		}
		f.applyFetchLocked(s, rp)
	}
	return true
}

// fetchRequest builds a full (session-less) fetch for parts.
func (f *Fetcher) fetchRequest(parts []sent) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = f.cfg.ReplicaID
	req.ReplicaState.ID = f.cfg.ReplicaID
	req.ReplicaState.Epoch = -1
	req.MaxWaitMillis = int32(f.cfg.MaxWait / time.Millisecond)
	req.MinBytes = f.cfg.MinBytes
	req.MaxBytes = f.cfg.ResponseMaxBytes
	req.SessionID, req.SessionEpoch = 0, -1
	byTopic := make(map[TopicPartition]int)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range parts {
		key := TopicPartition{Topic: s.tp.Topic, TopicID: s.tp.TopicID}
		i, ok := byTopic[key]
		if !ok {
			i = len(req.Topics)
			byTopic[key] = i
			t := kmsg.NewFetchRequestTopic()
			t.Topic, t.TopicID = s.tp.Topic, s.tp.TopicID
			req.Topics = append(req.Topics, t)
		}
		r := s.p.replica
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = s.tp.Partition
		rp.CurrentLeaderEpoch = s.p.leaderEpoch
		rp.FetchOffset = r.LogEndOffset()
		rp.LastFetchedEpoch = r.LatestLeaderEpoch()
		rp.LogStartOffset = r.LogStartOffset()
		rp.PartitionMaxBytes = f.cfg.PartitionMaxBytes
		if f.throttled[s.tp] {
			rp.PartitionMaxBytes = f.cfg.Throttle.maxBytes(rp.PartitionMaxBytes)
		}
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	return req
}

// applyFetchLocked applies one partition of a fetch response.
func (f *Fetcher) applyFetchLocked(s sent, rp *kmsg.FetchResponseTopicPartition) {
	switch rp.ErrorCode {
	case 0:
	case kerr.OffsetOutOfRange.Code:
		s.p.state = outOfRange
		return
	default:
		f.handleErrorLocked(s, rp.ErrorCode)
		return
	}
	if rp.DivergingEpoch.Epoch >= 0 && rp.DivergingEpoch.EndOffset >= 0 {
		// KIP-320: our last fetched epoch ends earlier on the leader.
		// Truncate; the next fetch goes from the new log end with the new
		// latest epoch (or, if the logs may still differ, after another
		// epoch check).
		f.applyTruncationLocked(s, rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset)
		return
	}
	batches := wholeBatches(rp.RecordBatches)
	if len(batches) == 0 && len(rp.RecordBatches) > 0 && !partialBatch(rp.RecordBatches) {
		f.cfg.Logger.Warn("replication: leader sent malformed batches", "topic", s.tp.Topic, "partition", s.tp.Partition)
		f.delayLocked(s.p)
		return
	}
	if f.throttled[s.tp] {
		f.cfg.Throttle.Charge(len(batches), time.Now())
	}
	_, err := s.p.replica.AppendAsFollower(batches, rp.HighWatermark)
	switch {
	case err == nil:
		s.p.backoff = 0
	case errors.Is(err, storage.ErrUnexpectedOffset), errors.Is(err, storage.ErrStaleLeaderEpoch):
		// The log moved under us (or the leader's batches do not follow
		// ours): check the epochs again.
		s.p.state = truncating
	default:
		f.cfg.Logger.Warn("replication: follower append failed", "topic", s.tp.Topic, "partition", s.tp.Partition, "error", err)
		f.delayLocked(s.p)
	}
}

// reset handles OFFSET_OUT_OF_RANGE: below the leader's log start, the
// log restarts there; otherwise the follower's log is longer than the
// leader's and the epoch check truncates it.
func (f *Fetcher) reset(ctx context.Context, s sent) {
	start, err := f.leaderLogStart(ctx, s)
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.currentLocked(s) {
		return
	}
	if err != nil {
		f.cfg.Logger.Debug("replication: leader log start unknown", "topic", s.tp.Topic, "partition", s.tp.Partition, "error", err)
		f.delayLocked(s.p)
		return
	}
	r := s.p.replica
	if r.LogEndOffset() >= start {
		s.p.state = truncating
		return
	}
	if err := r.TruncateFullyAndStartAt(start); err != nil {
		f.cfg.Logger.Warn("replication: restarting the log failed", "topic", s.tp.Topic, "partition", s.tp.Partition, "offset", start, "error", err)
		f.delayLocked(s.p)
		return
	}
	s.p.state = fetching
}

// leaderLogStart asks the leader for its log start offset (ListOffsets,
// earliest).
func (f *Fetcher) leaderLogStart(ctx context.Context, s sent) (int64, error) {
	f.mu.Lock()
	epoch := s.p.leaderEpoch
	f.mu.Unlock()
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	t := kmsg.NewListOffsetsRequestTopic()
	t.Topic = s.tp.Topic
	p := kmsg.NewListOffsetsRequestTopicPartition()
	p.Partition = s.tp.Partition
	p.CurrentLeaderEpoch = epoch
	p.Timestamp = -2 // earliest
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	ctx, cancel := context.WithTimeout(ctx, f.cfg.MaxWait+f.cfg.Backoff)
	defer cancel()
	resp, err := f.client.ListOffsets(ctx, req)
	if err != nil {
		return 0, err
	}
	for _, t := range resp.Topics {
		for _, rp := range t.Partitions {
			if t.Topic == s.tp.Topic && rp.Partition == s.tp.Partition {
				if rp.ErrorCode != 0 {
					return 0, kerr.ErrorForCode(rp.ErrorCode)
				}
				return rp.Offset, nil
			}
		}
	}
	return 0, errors.New("replication: partition missing from the ListOffsets answer")
}

// wholeBatches drops a trailing partial batch: Kafka leaders may cut the
// last batch at the byte limit, and the follower fetches it next time.
func wholeBatches(b []byte) []byte {
	off := 0
	for off < len(b) {
		h, err := record.ReadHeader(b[off:])
		if err != nil || h.Size() > len(b)-off {
			break
		}
		off += h.Size()
	}
	return b[:off]
}

// partialBatch reports whether b starts with the well-formed beginning of
// a batch that is cut short.
func partialBatch(b []byte) bool {
	h, err := record.ReadHeader(b)
	return err == nil && h.Size() > len(b)
}
