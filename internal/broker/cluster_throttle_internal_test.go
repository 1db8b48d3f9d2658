package broker

import (
	"math"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/config"
	"github.com/gregor-log/gregor/internal/metadata"
	"github.com/gregor-log/gregor/internal/replication"
	"github.com/gregor-log/gregor/internal/storage"
)

// AppliedFollowerThrottleList is the topic's follower.replication.
// throttled.replicas as this broker last re-marked its followed
// partitions for it (for the cluster tests of cluster_throttle_test.go).
func (b *Broker) AppliedFollowerThrottleList(id metadata.TopicID) string {
	b.controlMu.Lock()
	defer b.controlMu.Unlock()
	return b.quotas().followerLists[id]
}

// A follower copies a partition throttled when it is one of the adding
// replicas or the topic's follower list names it on this broker.
func TestFollowerThrottled(t *testing.T) {
	topic := func(list string) *metadata.Topic {
		mt := &metadata.Topic{Name: "t", Configs: map[string]string{}}
		if list != "" {
			mt.Configs[config.FollowerThrottledReplicas] = list
		}
		return mt
	}
	for _, tc := range []struct {
		list   string
		mp     metadata.Partition
		self   int32
		want   bool
		reason string
	}{
		{"", metadata.Partition{Partition: 0, Replicas: []int32{1, 2}}, 2, false, "no list, not adding"},
		{"", metadata.Partition{Partition: 0, Replicas: []int32{1, 2, 3}, AddingReplicas: []int32{3}}, 3, true, "adding"},
		{"", metadata.Partition{Partition: 0, Replicas: []int32{1, 2, 3}, AddingReplicas: []int32{3}}, 2, false, "another broker is adding"},
		{"*", metadata.Partition{Partition: 4, Replicas: []int32{1, 2}}, 2, true, "wildcard"},
		{"0:2,1:3", metadata.Partition{Partition: 0, Replicas: []int32{1, 2}}, 2, true, "listed"},
		{"0:2,1:3", metadata.Partition{Partition: 1, Replicas: []int32{1, 2}}, 2, false, "partition 1 listed on broker 3 only"},
		{"2:0", metadata.Partition{Partition: 0, Replicas: []int32{1, 2}}, 2, false, "PARTITION:BROKER, not BROKER:PARTITION"},
		{"bad", metadata.Partition{Partition: 0, Replicas: []int32{1, 2}}, 2, false, "an invalid list throttles nothing"},
	} {
		if got := followerThrottled(topic(tc.list), tc.mp, tc.self); got != tc.want {
			t.Errorf("%s: followerThrottled(%q, %+v, %d) = %v", tc.reason, tc.list, tc.mp, tc.self, got)
		}
	}
}

// The leader-side quota of one follower fetch: unlisted partitions and
// consumers are never held; listed ones read one second of rate while
// the bucket has tokens, are held while it is in debt, and only the
// answer's bytes of listed partitions are charged.
func TestReplicaFetchQuota(t *testing.T) {
	var none *replicaFetchQuota // a consumer's fetch
	if none.held(time.Now()) || none.of(0, true) != quotaNone {
		t.Fatal("a nil quota throttles")
	}
	none.mark(0, "t", 0)
	none.charge(nil, time.Now())

	bucket := replication.NewThrottle()
	q := &replicaFetchQuota{bucket: bucket, rate: 100, throttled: []bool{false, true}, any: true}
	now := time.Now()
	if q.held(now) {
		t.Fatal("held with a full bucket")
	}
	if q.of(0, false) != quotaNone || q.of(1, false) != quotaOpen || q.of(1, true) != quotaHeld || q.of(0, true) != quotaNone {
		t.Fatal("of")
	}
	if got := q.maxBytes(); got != 100 {
		t.Fatalf("maxBytes = %d, want one second of rate", got)
	}
	// Partition 0's bytes are free; partition 1's 150 put the bucket of
	// 100 in debt.
	q.charge([]fetchResult{{records: storage.Slice{Size: 1 << 20}}, {records: storage.Slice{Size: 150}}}, now)
	if !q.held(now) {
		t.Fatal("not held in debt")
	}
	if d := bucket.Delay(now); d <= 0 || d > time.Second {
		t.Fatalf("debt of 50 bytes at 100 B/s: delay %v", d)
	}
	// Lifting the rate lifts the hold at the next read.
	q.rate = math.MaxInt64
	if q.held(now) {
		t.Fatal("held after the rate was lifted")
	}
}
