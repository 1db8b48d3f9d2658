package broker

// Incremental fetch sessions (KIP-227). A consumer that fetches the same
// partitions over and over sends the full list once (session epoch 0); the
// broker caches it under a session id and from then on the consumer sends
// only what changed (new fetch offsets, added or forgotten partitions), and
// the broker answers only for partitions that have something new: records,
// an error, or a moved high watermark, last stable offset or log start
// offset. Request epochs count up from 1 so that a lost or duplicated
// request is detected (INVALID_FETCH_SESSION_EPOCH) instead of silently
// skipping data.
//
// A fetch runs in two steps around the reads: begin (validate the session
// fields, apply the request's changes to the session, list what to read)
// and finish (choose which partitions the response carries and remember
// what the fetcher was told). Both run under the cache's lock; the reads
// and the long poll between them use only begin's copy of the list.

import (
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	// defaultFetchSessionCacheSlots is Kafka's default for
	// max.incremental.fetch.session.cache.slots.
	defaultFetchSessionCacheSlots = 1000
	// fetchSessionEvictionAfter is Kafka's
	// min.incremental.fetch.session.eviction.ms: a session unused for this
	// long may be evicted by anyone; a fresher one only by a larger session.
	fetchSessionEvictionAfter = 120 * time.Second
	// maxFetchSessionPartitions bounds one session. Larger fetchers still
	// work, without a session (every request is a full one).
	maxFetchSessionPartitions = 10_000
	// maxFetchSessionCachePartitions bounds the partitions of all sessions
	// together, so the cache's memory has a ceiling however many slots are
	// configured (about 150 bytes each).
	maxFetchSessionCachePartitions = 1_000_000

	// Session epochs with a meaning of their own (FetchMetadata in Kafka).
	fetchSessionInitialEpoch = 0  // full request that opens a session
	fetchSessionFinalEpoch   = -1 // full request without a session
)

// fetchKey names a partition as the fetcher names it: by topic name up to
// Fetch v12, by topic id from v13 (the other field is zero).
type fetchKey struct {
	topicID   [16]byte
	topic     string
	partition int32
}

// fetchTarget is one partition to read and how, from the request or, for
// incremental requests, from the session.
type fetchTarget struct {
	key                fetchKey
	fetchOffset        int64
	logStartOffset     int64 // the follower's, informational for consumers
	maxBytes           int32
	currentLeaderEpoch int32
	lastFetchedEpoch   int32
}

// sessionPartition is one partition of a session: what the fetcher last
// asked for and what it was last told.
type sessionPartition struct {
	fetchTarget
	// Last values sent in a response; -1 until the partition is first
	// answered, so a newly added partition always appears in the next
	// response.
	highWatermark    int64
	lastStableOffset int64
	logStartOffsetTo int64
	rotate           bool // scratch mark for rotateToBack
}

type fetchSession struct {
	id           int32
	usesTopicIDs bool // sessions opened with Fetch v13+ name topics by id
	privileged   bool // a follower's session: evicted only when stale
	nextEpoch    int32
	lastUsed     time.Time
	// partitions is the order partitions are read in; partitions that
	// return records move to the back, so that under max_bytes every
	// partition gets its turn.
	partitions []*sessionPartition
	byKey      map[fetchKey]*sessionPartition
}

// fetchSessionCache holds the sessions. Bounded by slots sessions and
// maxFetchSessionCachePartitions partitions; see admit for eviction.
type fetchSessionCache struct {
	mu         sync.Mutex
	configured bool
	slots      int
	sessions   map[int32]*fetchSession
	partitions int              // over all sessions
	now        func() time.Time // time.Now; tests replace it
}

func (c *fetchSessionCache) setSlots(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.configured = true
	c.slots = max(n, 0)
}

func (c *fetchSessionCache) initLocked() {
	if !c.configured {
		c.configured = true
		c.slots = defaultFetchSessionCacheSlots
	}
	if c.sessions == nil {
		c.sessions = make(map[int32]*fetchSession)
	}
	if c.now == nil {
		c.now = time.Now
	}
}

// fetchContext is the session side of one fetch request.
type fetchContext struct {
	// errorCode is a top-level error (FETCH_SESSION_ID_NOT_FOUND,
	// INVALID_FETCH_SESSION_EPOCH, FETCH_SESSION_TOPIC_ID_ERROR): the
	// response carries nothing else.
	errorCode int16
	targets   []fetchTarget
	// incremental: the response omits partitions with nothing new.
	incremental bool
	session     *fetchSession // incremental: the session in use
	// openSession: a full request with epoch 0 asks for a new session,
	// created in finish if the cache admits it.
	openSession  bool
	privileged   bool
	usesTopicIDs bool
	sessionID    int32 // the response's session id
}

// begin reads the session fields of req and returns what to read.
func (c *fetchSessionCache) begin(req *kmsg.FetchRequest, privileged bool) fetchContext {
	fc := fetchContext{privileged: privileged, usesTopicIDs: req.Version >= 13}
	if req.Version < 7 {
		fc.targets = requestTargets(req, nil)
		return fc
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.initLocked()
	if req.SessionEpoch == fetchSessionInitialEpoch || req.SessionEpoch == fetchSessionFinalEpoch {
		// A full request closes the session it names, if any.
		if req.SessionID != 0 {
			c.removeLocked(req.SessionID)
		}
		fc.openSession = req.SessionEpoch == fetchSessionInitialEpoch
		fc.targets = requestTargets(req, nil)
		return fc
	}
	s := c.sessions[req.SessionID]
	switch {
	case req.SessionID == 0 || s == nil:
		fc.errorCode = kerr.FetchSessionIDNotFound.Code
		return fc
	case s.nextEpoch != req.SessionEpoch:
		fc.errorCode = kerr.InvalidFetchSessionEpoch.Code
		return fc
	case s.usesTopicIDs != fc.usesTopicIDs:
		fc.errorCode = kerr.FetchSessionTopicIDError.Code
		return fc
	}
	if !c.updateLocked(s, req) {
		// The session would outgrow its bound: drop it, and the fetcher
		// falls back to a full request, served without a session.
		c.removeLocked(s.id)
		fc.errorCode = kerr.FetchSessionIDNotFound.Code
		return fc
	}
	s.nextEpoch = nextFetchSessionEpoch(s.nextEpoch)
	s.lastUsed = c.now()
	fc.incremental = true
	fc.session = s
	fc.sessionID = s.id
	fc.targets = make([]fetchTarget, len(s.partitions))
	for i, sp := range s.partitions {
		fc.targets[i] = sp.fetchTarget
	}
	return fc
}

func nextFetchSessionEpoch(epoch int32) int32 {
	if epoch == math.MaxInt32 {
		return 1
	}
	return epoch + 1
}

// requestTargets lists the partitions named by req, appending to dst.
func requestTargets(req *kmsg.FetchRequest, dst []fetchTarget) []fetchTarget {
	for i := range req.Topics {
		rt := &req.Topics[i]
		for j := range rt.Partitions {
			dst = append(dst, targetOf(req.Version, rt, &rt.Partitions[j]))
		}
	}
	return dst
}

func targetOf(version int16, rt *kmsg.FetchRequestTopic, rp *kmsg.FetchRequestTopicPartition) fetchTarget {
	t := fetchTarget{
		key:                fetchKey{partition: rp.Partition},
		fetchOffset:        rp.FetchOffset,
		logStartOffset:     rp.LogStartOffset,
		maxBytes:           rp.PartitionMaxBytes,
		currentLeaderEpoch: -1,
		lastFetchedEpoch:   -1,
	}
	if version >= 13 {
		t.key.topicID = rt.TopicID
	} else {
		t.key.topic = rt.Topic
	}
	if version >= 9 {
		t.currentLeaderEpoch = rp.CurrentLeaderEpoch
	}
	if version >= 12 {
		t.lastFetchedEpoch = rp.LastFetchedEpoch
	}
	return t
}

// updateLocked applies an incremental request to s: named partitions are
// added or updated, forgotten ones removed. It reports false, changing
// nothing, if s would grow beyond its bounds.
func (c *fetchSessionCache) updateLocked(s *fetchSession, req *kmsg.FetchRequest) bool {
	added := 0
	for i := range req.Topics {
		rt := &req.Topics[i]
		for j := range rt.Partitions {
			t := targetOf(req.Version, rt, &rt.Partitions[j])
			if _, ok := s.byKey[t.key]; !ok {
				added++
			}
		}
	}
	// Duplicates in the request count twice here: harmless, the bound only
	// gets stricter.
	if len(s.partitions)+added > maxFetchSessionPartitions || c.partitions+added > maxFetchSessionCachePartitions {
		return false
	}
	for i := range req.Topics {
		rt := &req.Topics[i]
		for j := range rt.Partitions {
			t := targetOf(req.Version, rt, &rt.Partitions[j])
			if sp, ok := s.byKey[t.key]; ok {
				sp.fetchTarget = t
				continue
			}
			sp := &sessionPartition{fetchTarget: t, highWatermark: -1, lastStableOffset: -1, logStartOffsetTo: -1}
			s.byKey[t.key] = sp
			s.partitions = append(s.partitions, sp)
			c.partitions++
		}
	}
	removed := false
	for i := range req.ForgottenTopics {
		ft := &req.ForgottenTopics[i]
		for _, p := range ft.Partitions {
			k := fetchKey{partition: p}
			if req.Version >= 13 {
				k.topicID = ft.TopicID
			} else {
				k.topic = ft.Topic
			}
			if _, ok := s.byKey[k]; ok {
				delete(s.byKey, k)
				c.partitions--
				removed = true
			}
		}
	}
	if removed {
		kept := s.partitions[:0]
		for _, sp := range s.partitions {
			if s.byKey[sp.key] == sp {
				kept = append(kept, sp)
			}
		}
		clear(s.partitions[len(kept):])
		s.partitions = kept
	}
	return true
}

func (c *fetchSessionCache) removeLocked(id int32) {
	if s, ok := c.sessions[id]; ok {
		delete(c.sessions, id)
		c.partitions -= len(s.partitions)
	}
}

// finish decides which results the response carries and sets the
// response's session id. results[i] answers fc.targets[i]. Full requests
// answer every partition; incremental ones only partitions with something
// new since the last response.
func (c *fetchSessionCache) finish(fc *fetchContext, results []fetchResult) []fetchResult {
	if fc.errorCode != 0 || (!fc.incremental && !fc.openSession) {
		return results
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.initLocked()
	if fc.openSession {
		fc.sessionID = c.openLocked(fc, results)
		return results
	}
	s := fc.session
	kept := results[:0]
	var withRecords []*sessionPartition
	for i := range results {
		r := &results[i]
		sp := s.byKey[fc.targets[i].key]
		if sp == nil {
			// Forgotten by a concurrent request of the same fetcher; answer it anyway.
			kept = append(kept, *r)
			continue
		}
		changed := r.records.Size > 0 || r.errorCode != 0 || r.diverging ||
			r.highWatermark != sp.highWatermark ||
			r.lastStableOffset != sp.lastStableOffset ||
			r.logStartOffset != sp.logStartOffsetTo
		if !changed {
			continue
		}
		sp.highWatermark, sp.lastStableOffset, sp.logStartOffsetTo = r.highWatermark, r.lastStableOffset, r.logStartOffset
		kept = append(kept, *r)
		if r.records.Size > 0 {
			withRecords = append(withRecords, sp)
		}
	}
	if len(withRecords) > 0 {
		rotateToBack(s, withRecords)
	}
	return kept
}

// rotateToBack moves the given partitions of s to the end of its order,
// keeping the relative order of both groups.
func rotateToBack(s *fetchSession, moved []*sessionPartition) {
	for _, sp := range moved {
		sp.rotate = true
	}
	kept := s.partitions[:0]
	for _, sp := range s.partitions {
		if !sp.rotate {
			kept = append(kept, sp)
		}
	}
	for _, sp := range moved {
		if sp.rotate && s.byKey[sp.key] == sp {
			sp.rotate = false
			kept = append(kept, sp)
		}
	}
	s.partitions = kept
}

// openLocked creates a session for a full request's answered partitions
// and returns its id, or 0 when the cache does not admit it.
func (c *fetchSessionCache) openLocked(fc *fetchContext, results []fetchResult) int32 {
	byKey := make(map[fetchKey]*sessionPartition, len(fc.targets))
	parts := make([]*sessionPartition, 0, len(fc.targets))
	for i, t := range fc.targets {
		r := &results[i]
		sp := &sessionPartition{fetchTarget: t, highWatermark: r.highWatermark, lastStableOffset: r.lastStableOffset, logStartOffsetTo: r.logStartOffset}
		if old, dup := byKey[t.key]; dup {
			*old = *sp // a repeated partition: the last mention wins, as in Kafka
			continue
		}
		byKey[t.key] = sp
		parts = append(parts, sp)
	}
	if !c.admitLocked(len(parts), fc.privileged) {
		return 0
	}
	now := c.now()
	s := &fetchSession{
		id:           c.newIDLocked(),
		usesTopicIDs: fc.usesTopicIDs,
		privileged:   fc.privileged,
		nextEpoch:    1,
		lastUsed:     now,
		partitions:   parts,
		byKey:        byKey,
	}
	c.sessions[s.id] = s
	c.partitions += len(parts)
	return s.id
}

// admitLocked makes room for a new session of size partitions, evicting if
// it may, as Kafka's FetchSessionCache does: first any session unused for
// fetchSessionEvictionAfter (the least recently used), otherwise the
// smallest consumer session, if the newcomer is a follower or larger.
// Follower sessions are evicted only when stale.
func (c *fetchSessionCache) admitLocked(size int, privileged bool) bool {
	if size > maxFetchSessionPartitions || size > maxFetchSessionCachePartitions || c.slots == 0 {
		return false
	}
	now := c.now()
	// Each round evicts one session, so this ends within len(c.sessions) rounds.
	for len(c.sessions) >= c.slots || c.partitions+size > maxFetchSessionCachePartitions {
		var stalest, smallest *fetchSession
		for _, s := range c.sessions {
			if stalest == nil || s.lastUsed.Before(stalest.lastUsed) {
				stalest = s
			}
			if !s.privileged && (smallest == nil || len(s.partitions) < len(smallest.partitions) ||
				len(s.partitions) == len(smallest.partitions) && s.id < smallest.id) {
				smallest = s
			}
		}
		switch {
		case stalest != nil && now.Sub(stalest.lastUsed) >= fetchSessionEvictionAfter:
			c.removeLocked(stalest.id)
		case smallest != nil && (privileged || size > len(smallest.partitions)):
			c.removeLocked(smallest.id)
		default:
			return false
		}
	}
	return true
}

// newIDLocked picks an unused positive session id at random, so ids are
// not guessable from one another.
func (c *fetchSessionCache) newIDLocked() int32 {
	for {
		id := rand.Int32N(math.MaxInt32) + 1
		if _, taken := c.sessions[id]; !taken {
			return id
		}
	}
}

// len reports the number of sessions, for tests and metrics.
func (c *fetchSessionCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sessions)
}
