package broker

// Fetch: consumers and follower replicas read record batches.
//
// A fetch reads each partition in order under two limits, as Kafka does:
// partition_max_bytes per partition and max_bytes for the whole response.
// The first partition that has data returns at least one whole batch even
// if it is larger than both limits, so a consumer can never be stuck behind
// a batch bigger than its buffers; later partitions stop at what is left.
// When fewer than min_bytes are available the request parks in the
// purgatory (one partition.Waiter watching every partition it reads) until
// a high watermark or log end moves, max_wait passes, or the connection
// goes away; then it reads again. It never polls.
//
// A partition answered NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH names
// the leader the metadata image knows (KIP-951's CurrentLeader, v12+) and
// the response carries that leader's endpoint (NodeEndpoints, v16+): see
// leader_hints.go.
//
// A follower (replica_id >= 0, in ReplicaState from v15) reads up to the
// log end rather than the high watermark; its fetch offset is its log end,
// which the leader records (partition.UpdateFollowerFetch) before answering
// with the high watermark that may have moved. A LastFetchedEpoch (v12+)
// that diverges from the leader's log is answered with DivergingEpoch.
//
// The records are not copied: the response is a wire.Spliced whose record
// fields are file ranges, written to the socket with sendfile.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gregor-log/gregor/internal/partition"
	"github.com/gregor-log/gregor/internal/storage"
	"github.com/gregor-log/gregor/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetchMaxVersion is the newest Fetch version served: v13 names topics by
// id, v15 moves the replica id into ReplicaState (KIP-903), v16 adds
// leader hints (KIP-951) that a response needs only after a leader moves.
// v17 (KIP-853, replica directory ids) is for controllers' replication.
const fetchMaxVersion = 16

func init() { register(kmsg.Fetch, 4, fetchMaxVersion, handleFetch) }

func handleFetch(ctx context.Context, b *Broker, req *wire.Request) (any, error) {
	r, ok := req.Body.(*kmsg.FetchRequest)
	if !ok {
		return nil, fmt.Errorf("broker: Fetch handler got %T", req.Body)
	}
	resp := fetch(ctx, brokerSource{b}, &b.fetchSessions, b.fetchMaxBytes(), r)
	addFetchLeaderHints(resp, b.store.Image)
	return resp.spliced(), nil
}

// fetchResult is one partition of a fetch response.
type fetchResult struct {
	topic            string
	topicID          [16]byte
	partition        int32
	errorCode        int16
	highWatermark    int64
	lastStableOffset int64
	logStartOffset   int64
	records          storage.Slice
	// diverging is set with the DivergingEpoch field (KIP-595): the
	// fetcher's last fetched epoch ends before its fetch offset here, so it
	// must truncate to divergingEndOffset first.
	diverging          bool
	divergingEpoch     int32
	divergingEndOffset int64
	// currentLeader is the CurrentLeader tag (KIP-951, leader_hints.go),
	// sent when hasCurrentLeader: the partition's leader as the image
	// knows it, on NOT_LEADER_OR_FOLLOWER and FENCED_LEADER_EPOCH.
	currentLeader    leaderHint
	hasCurrentLeader bool
}

// fetchRequestParams are the request-level fields a fetch is read with.
type fetchRequestParams struct {
	version       int16
	replicaID     int32 // >= 0: a follower replica; < 0: a consumer
	minBytes      int32
	maxBytes      int32
	maxWait       time.Duration
	readCommitted bool
}

func fetchParamsOf(req *kmsg.FetchRequest) fetchRequestParams {
	p := fetchRequestParams{
		version:       req.Version,
		replicaID:     req.ReplicaID,
		minBytes:      req.MinBytes,
		maxBytes:      req.MaxBytes,
		maxWait:       time.Duration(max(req.MaxWaitMillis, 0)) * time.Millisecond,
		readCommitted: req.Version >= 4 && req.IsolationLevel == 1,
	}
	if req.Version >= 15 {
		// KIP-903 moved the replica id into the ReplicaState tag.
		p.replicaID = req.ReplicaState.ID
	}
	return p
}

// fetch answers one Fetch request (any version 4..fetchMaxVersion).
// maxBytesCap is fetch.max.bytes: the request's max_bytes is lowered to it.
func fetch(ctx context.Context, src partitionSource, sessions *fetchSessionCache, maxBytesCap int32, req *kmsg.FetchRequest) *fetchResponse {
	params := fetchParamsOf(req)
	params.maxBytes = min(params.maxBytes, maxBytesCap)
	fc := sessions.begin(req, params.replicaID >= 0)
	resp := &fetchResponse{version: req.Version, readCommitted: params.readCommitted, errorCode: fc.errorCode}
	if fc.errorCode != 0 {
		return resp
	}
	r := fetchReader{params: params, targets: fc.targets}
	r.quota = newReplicaFetchQuota(src, params.replicaID, len(r.targets)) // cluster_throttle.go
	r.resolve(src)
	r.read()
	if r.mustWait() {
		r.wait(ctx)
	}
	r.quota.charge(r.results)
	resp.results = sessions.finish(&fc, r.results)
	resp.sessionID = fc.sessionID
	return resp
}

// fetchReader reads the targets of one request, possibly several times
// (long poll).
type fetchReader struct {
	params  fetchRequestParams
	targets []fetchTarget
	parts   []servedPartition // parts[i] serves targets[i]; nil when results[i] is an error from resolve
	results []fetchResult
	quota   *replicaFetchQuota // a follower's fetch: the leader-side replication quota; nil: none
	// From the last read.
	bytes     int64
	errors    bool // some partition answers with an error
	diverging bool
}

// resolve finds the partition of each target; targets that name nothing
// here get their error result now, once.
func (r *fetchReader) resolve(src partitionSource) {
	r.parts = make([]servedPartition, len(r.targets))
	r.results = make([]fetchResult, len(r.targets))
	var lastID [16]byte
	var lastName string
	var lastOK bool
	for i := range r.targets {
		t := &r.targets[i]
		res := &r.results[i]
		*res = fetchResult{topic: t.key.topic, topicID: t.key.topicID, partition: t.key.partition}
		name := t.key.topic
		if r.params.version >= 13 {
			// Topic ids repeat for every partition of a topic: resolve each once.
			if i == 0 || t.key.topicID != lastID {
				lastID = t.key.topicID
				lastName, lastOK = src.topicNameByID(lastID)
			}
			if !lastOK {
				res.setError(kerr.UnknownTopicID.Code)
				continue
			}
			name = lastName
		}
		p, err := src.servedPartition(name, t.key.partition)
		if err != nil {
			res.setError(readErrorCode(err))
			continue
		}
		r.parts[i] = p
		r.quota.mark(i, name, t.key.partition)
	}
}

func (res *fetchResult) setError(code int16) {
	res.errorCode = code
	res.highWatermark, res.lastStableOffset, res.logStartOffset = -1, -1, -1
	res.records = storage.Slice{}
	res.diverging = false
}

// read reads every resolved partition once, in order, under the limits.
func (r *fetchReader) read() {
	r.bytes, r.errors, r.diverging = 0, false, false
	remaining := int64(r.params.maxBytes)
	minOneBatch := true
	held := r.quota.held()
	for i, p := range r.parts {
		res := &r.results[i]
		if p != nil {
			r.readPartition(p, &r.targets[i], res, remaining, minOneBatch, r.quota.of(i, held))
		}
		if res.errorCode != 0 {
			r.errors = true
		}
		r.diverging = r.diverging || res.diverging
		if n := res.records.Size; n > 0 {
			minOneBatch = false
			r.bytes += n
			remaining = max(remaining-n, 0)
		}
	}
}

// readPartition fills res for one partition. remaining is what is left of
// the response's max_bytes; minOneBatch is true until some partition has
// returned records; quota is the leader-side replication quota's say.
func (r *fetchReader) readPartition(p servedPartition, t *fetchTarget, res *fetchResult, remaining int64, minOneBatch bool, quota leaderQuota) {
	res.errorCode, res.records, res.diverging = 0, storage.Slice{}, false
	if !p.IsLeader() {
		res.setError(kerr.NotLeaderForPartition.Code)
		return
	}
	if code := leaderEpochCheck(t.currentLeaderEpoch, p.LeaderEpoch()); code != 0 {
		res.setError(code)
		return
	}
	// The high watermark is read first: the log start and end read after it
	// are at least as new, so fetchOffset <= LogEndOffset holds for any
	// offset below it.
	res.highWatermark = p.HighWatermark()
	res.lastStableOffset = p.LastStableOffset()
	res.logStartOffset = p.LogStartOffset()
	logEnd := p.LogEndOffset()
	upTo := res.highWatermark
	if r.params.readCommitted {
		upTo = res.lastStableOffset
	}
	if r.params.replicaID >= 0 {
		upTo = logEnd // a follower copies the whole log, committed or not
	}
	if t.lastFetchedEpoch >= 0 {
		epoch, end := kafkaEndOffsetForEpoch(p, t.lastFetchedEpoch)
		if epoch < 0 || end < 0 {
			res.setError(kerr.OffsetOutOfRange.Code)
			return
		}
		if epoch < t.lastFetchedEpoch || end < t.fetchOffset {
			res.diverging, res.divergingEpoch, res.divergingEndOffset = true, epoch, end
			return
		}
	}
	if t.fetchOffset < res.logStartOffset || t.fetchOffset > logEnd {
		res.setError(kerr.OffsetOutOfRange.Code)
		return
	}
	if r.params.replicaID >= 0 && !r.recordFollowerFetch(p, t, res) {
		return
	}
	if t.fetchOffset >= upTo {
		return // nothing committed to read yet
	}
	limit := min(int64(t.maxBytes), remaining)
	// A follower the leader's replication quota holds (cluster_throttle.go)
	// gets the offsets above and no records.
	if limit <= 0 && !minOneBatch || quota == quotaHeld {
		return
	}
	readLimit := limit
	if quota == quotaOpen {
		readLimit = min(limit, r.quota.maxBytes())
	}
	// Read returns at least one whole batch; past the first partition with
	// data, a batch over the limit is left for a later fetch.
	s, err := p.Read(t.fetchOffset, int32(max(readLimit, 1)), upTo)
	if err != nil {
		res.setError(readErrorCode(err))
		return
	}
	if !minOneBatch && s.Size > limit {
		return
	}
	res.records = s
}

// followerFetchRecorder is the leader-side hook of the ISR protocol
// (*partition.Partition has it): a follower's fetch offset is its log end.
type followerFetchRecorder interface {
	UpdateFollowerFetch(replicaID int32, fetchOffset int64, now time.Time) error
}

// recordFollowerFetch tells the partition where follower replicaID's log
// ends, which may move the high watermark, and answers with the new one so
// the follower learns it without another round trip. A broker that is not
// a replica of the partition is refused. It reports whether to go on
// reading.
func (r *fetchReader) recordFollowerFetch(p servedPartition, t *fetchTarget, res *fetchResult) bool {
	rec, ok := p.(followerFetchRecorder)
	if !ok {
		res.setError(kerr.NotLeaderForPartition.Code)
		return false
	}
	if err := rec.UpdateFollowerFetch(r.params.replicaID, t.fetchOffset, time.Now()); err != nil {
		res.setError(kerr.NotLeaderForPartition.Code)
		return false
	}
	res.highWatermark = p.HighWatermark()
	res.lastStableOffset = p.LastStableOffset()
	return true
}

// leaderEpochCheck compares a request's current leader epoch with the
// partition's (KIP-320); -1 means the client does not know it.
func leaderEpochCheck(requested, current int32) int16 {
	switch {
	case requested < 0:
		return 0
	case requested < current:
		return kerr.FencedLeaderEpoch.Code
	case requested > current:
		return kerr.UnknownLeaderEpoch.Code
	}
	return 0
}

// readErrorCode maps an error from a partition or its log to its Kafka code.
func readErrorCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errNoPartition):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, storage.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, partition.ErrNotLeader),
		errors.Is(err, partition.ErrClosed), errors.Is(err, storage.ErrClosed):
		// A closed partition is being deleted or moved: the client
		// refreshes its metadata and retries.
		return kerr.NotLeaderForPartition.Code
	default:
		// storage.ErrCorruptSegment and I/O errors.
		return kerr.KafkaStorageError.Code
	}
}

// mustWait reports whether the request should park (Kafka's conditions for
// answering at once, negated).
func (r *fetchReader) mustWait() bool {
	return r.params.maxWait > 0 && len(r.targets) > 0 &&
		r.bytes < int64(r.params.minBytes) && !r.errors && !r.diverging
}

// wait parks until enough bytes are readable, max_wait passes or ctx ends,
// reading again after each wake-up.
func (r *fetchReader) wait(ctx context.Context) {
	w := partition.NewWaiter()
	// A partition named twice is watched once: Watch and Unwatch pair up.
	watched := make(map[servedPartition]struct{}, len(r.parts))
	for _, p := range r.parts {
		if _, dup := watched[p]; p != nil && !dup {
			watched[p] = struct{}{}
			p.Watch(w)
		}
	}
	defer func() {
		for p := range watched {
			p.Unwatch(w)
		}
	}()
	timer := time.NewTimer(r.params.maxWait)
	defer timer.Stop()
	// Read again now: something may have moved between the first read and
	// Watch, and that wake-up was not ours.
	r.read()
	for r.mustWait() {
		select {
		case <-w.C:
		case <-timer.C:
			r.read()
			return
		case <-ctx.Done():
			return
		}
		r.read()
	}
}
