package replication

import (
	"math"
	"sync"
	"time"
)

// Throttle is a token bucket of bytes per second: one of Kafka's
// replication quotas (KIP-73). A broker has two. The follower's is shared
// by every Fetcher of the broker: follower.replication.throttled.rate,
// applied to the partitions marked throttled (Fetcher.SetThrottled: the
// broker marks the replicas it is adding in a reassignment and those
// follower.replication.throttled.replicas lists, so copying a partition to
// a new broker does not starve the followers already in sync, nor the
// disks). The leader's is leader.replication.throttled.rate: the broker
// charges it for what it sends to followers of the partitions
// leader.replication.throttled.replicas lists, and sends them nothing
// while it is in debt (the broker's fetch handler, not a Fetcher).
//
// The bucket holds at most one second of rate. A fetch may take more than
// is left (a batch is never split), which leaves the bucket in debt;
// throttled partitions sit out until it is paid back. Fetchers also ask
// for at most one second of rate per throttled partition, so the debt
// stays small. The zero rate, or math.MaxInt64 (Kafka's default), means
// no limit.
type Throttle struct {
	mu     sync.Mutex
	rate   int64   // bytes per second; <= 0 or math.MaxInt64: unlimited
	tokens float64 // bytes that may be fetched now; negative: debt
	last   time.Time
}

// NewThrottle returns a throttle with no limit.
func NewThrottle() *Throttle { return &Throttle{} }

// SetRate sets the rate in bytes per second (<= 0 or math.MaxInt64: no
// limit). A changed rate starts with a full bucket and no debt, so
// lifting a throttle takes effect at once.
func (t *Throttle) SetRate(bytesPerSecond int64) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if bytesPerSecond == t.rate {
		return
	}
	t.rate, t.tokens, t.last = bytesPerSecond, float64(max(bytesPerSecond, 0)), time.Time{}
}

// Rate is the current rate (0 or math.MaxInt64: no limit).
func (t *Throttle) Rate() int64 {
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.rate
}

func (t *Throttle) unlimitedLocked() bool { return t.rate <= 0 || t.rate == math.MaxInt64 }

// refillLocked adds the tokens earned since the last call, up to one
// second of rate.
func (t *Throttle) refillLocked(now time.Time) {
	if !t.last.IsZero() && now.After(t.last) {
		t.tokens = min(t.tokens+now.Sub(t.last).Seconds()*float64(t.rate), float64(t.rate))
	}
	if t.last.IsZero() || now.After(t.last) {
		t.last = now
	}
}

// Delay is how long throttled partitions must wait before their next
// fetch at now: zero when tokens are left.
func (t *Throttle) Delay(now time.Time) time.Duration {
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.unlimitedLocked() {
		return 0
	}
	t.refillLocked(now)
	if t.tokens > 0 {
		return 0
	}
	return time.Duration((-t.tokens + 1) / float64(t.rate) * float64(time.Second))
}

// Charge takes n fetched bytes from the bucket.
func (t *Throttle) Charge(n int, now time.Time) {
	if t == nil || n <= 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.unlimitedLocked() {
		return
	}
	t.refillLocked(now)
	t.tokens -= float64(n)
}

// MaxBytes is what one read of a throttled partition may take: at most
// one second of rate, and not above limit. Fetchers cap their requests
// with it, leaders their answers, so the debt a batch leaves stays near
// one second.
func (t *Throttle) MaxBytes(limit int32) int32 { return t.maxBytes(limit) }

// maxBytes is MaxBytes.
func (t *Throttle) maxBytes(limit int32) int32 {
	if t == nil {
		return limit
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.unlimitedLocked() {
		return limit
	}
	return int32(min(int64(limit), max(t.rate, 1)))
}
