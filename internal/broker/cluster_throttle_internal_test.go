package broker

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/config"
	"github.com/gregor-log/gregor/internal/metadata"
	"github.com/gregor-log/gregor/internal/partition"
	"github.com/gregor-log/gregor/internal/record"
	"github.com/gregor-log/gregor/internal/replication"
	"github.com/gregor-log/gregor/internal/storage"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AppliedFollowerThrottleList is the topic's follower.replication.
// throttled.replicas as this broker last re-marked its followed
// partitions for it (for the cluster tests of cluster_throttle_test.go).
func (b *Broker) AppliedFollowerThrottleList(id metadata.TopicID) string {
	b.controlMu.Lock()
	defer b.controlMu.Unlock()
	return b.quotas.followerLists[id]
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
	if none.held() || none.of(0, true) != quotaNone {
		t.Fatal("a nil quota throttles")
	}
	none.mark(0, "t", 0)
	none.charge(nil)

	bucket := replication.NewThrottle()
	rate := int64(100)
	q := &replicaFetchQuota{bucket: bucket, rate: func() int64 { return rate }, throttled: []bool{false, true}, any: true}
	if q.held() {
		t.Fatal("held with a full bucket")
	}
	if q.of(0, false) != quotaNone || q.of(1, false) != quotaOpen || q.of(1, true) != quotaHeld || q.of(0, true) != quotaNone {
		t.Fatal("of")
	}
	if got := q.maxBytes(); got != 100 {
		t.Fatalf("maxBytes = %d, want one second of rate", got)
	}
	// Partition 0's bytes are free; partition 1's put the bucket of 100
	// in debt for hours.
	q.charge([]fetchResult{{records: storage.Slice{Size: 1 << 20}}, {records: storage.Slice{Size: 1 << 20}}})
	if !q.held() {
		t.Fatal("not held in debt")
	}
	if d := bucket.Delay(time.Now()); d < time.Hour {
		t.Fatalf("debt of 1 MiB at 100 B/s: delay %v", d)
	}
	// Lifting the rate lifts the hold at the next read.
	rate = math.MaxInt64
	if q.held() {
		t.Fatal("held after the rate was lifted")
	}
}

// quotaSource serves real partitions (partition 0 of each topic) led by
// broker 1 under a leader-side quota over img.
type quotaSource struct {
	parts  map[string]*partition.Partition
	img    *metadata.Image
	bucket *replication.Throttle
	rate   int64
}

func (s *quotaSource) servedPartition(topic string, index int32) (servedPartition, error) {
	if p := s.parts[topic]; p != nil && index == 0 {
		return partitionWithLog{p}, nil
	}
	return nil, errNoPartition
}
func (s *quotaSource) topicNameByID([16]byte) (string, bool) { return "", false }
func (s *quotaSource) topicID(string) ([16]byte, bool)       { return [16]byte{}, false }
func (s *quotaSource) replicaFetchQuota(follower int32, targets int) *replicaFetchQuota {
	return &replicaFetchQuota{bucket: s.bucket, rate: func() int64 { return s.rate }, img: s.img, self: 1, follower: follower, throttled: make([]bool, targets)}
}

// One follower fetch of two partitions, "held" (its leader list names
// 0:1, the follower 2 is out of sync) and "free" (no list): under the
// leader quota "held" is read one second of rate at a time and answered
// without records while the bucket is in debt, with its high watermark;
// "free" and every consumer fetch are answered in full.
func TestFetchUnderLeaderQuota(t *testing.T) {
	recs := []metadata.Record{&metadata.ClusterRecord{ClusterID: "c"}}
	for i, name := range []string{"held", "free"} {
		id := metadata.TopicID{byte(i + 1)}
		mt := &metadata.TopicRecord{Name: name, ID: id}
		if name == "held" {
			mt.Configs = map[string]string{config.LeaderThrottledReplicas: "0:1"}
		}
		recs = append(recs, mt, &metadata.PartitionRecord{TopicID: id, Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 1})
	}
	img, err := metadata.Empty().Apply(recs...)
	if err != nil {
		t.Fatal(err)
	}
	src := &quotaSource{parts: map[string]*partition.Partition{}, img: img, bucket: replication.NewThrottle(), rate: 1}
	for _, name := range []string{"held", "free"} {
		p, err := partition.Open(t.TempDir(), name, 0, partition.Config{Storage: storage.Config{FlushMessages: 1}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		p.SetLocalReplicaID(1)
		if err := p.BecomeLeader(1, []int32{1, 2}, []int32{1}); err != nil {
			t.Fatal(err)
		}
		for i := range 3 { // three batches
			bb := record.NewBuilder(0, record.CodecNone)
			bb.Add(1700000000000+int64(i), []byte("k"), []byte("v"))
			b, err := bb.Build()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Produce(context.Background(), b, 1); err != nil {
				t.Fatal(err)
			}
		}
		src.parts[name] = p
	}
	fetchBoth := func(replica int32) map[string]kmsg.FetchResponseTopicPartition {
		req := kmsg.NewPtrFetchRequest()
		req.Version, req.ReplicaID = 12, replica
		req.MinBytes, req.MaxBytes, req.MaxWaitMillis, req.SessionEpoch = 1, 1<<20, 0, -1
		for _, name := range []string{"held", "free"} {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = name
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LastFetchedEpoch = 1<<20, 1, -1
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
		}
		out := map[string]kmsg.FetchResponseTopicPartition{}
		for _, rt := range doFetch(t, context.Background(), src, &fetchSessionCache{}, req).Topics {
			out[rt.Topic] = rt.Partitions[0]
		}
		return out
	}
	bases := func(rp kmsg.FetchResponseTopicPartition) []int64 { return batchBases(t, rp.RecordBatches) }

	// A full bucket (one byte at 1 B/s): "held" gets one batch, and owes.
	got := fetchBoth(2)
	if !equalInt64s(bases(got["held"]), []int64{0}) || !equalInt64s(bases(got["free"]), []int64{0, 1, 2}) {
		t.Fatalf("first fetch: held %v, free %v", bases(got["held"]), bases(got["free"]))
	}
	// In debt: no records for "held", its offsets still answered.
	got = fetchBoth(2)
	if h := got["held"]; h.ErrorCode != 0 || len(h.RecordBatches) != 0 || h.HighWatermark < 0 || h.LogStartOffset != 0 {
		t.Fatalf("held in debt: %+v", h)
	}
	if !equalInt64s(bases(got["free"]), []int64{0, 1, 2}) {
		t.Fatalf("free in debt: %v", bases(got["free"]))
	}
	// Consumers are never held.
	got = fetchBoth(-1)
	if len(got["held"].RecordBatches) == 0 || len(got["free"].RecordBatches) == 0 {
		t.Fatalf("consumer: %+v", got)
	}
	// Lifting the rate lifts the hold at the next fetch.
	src.rate = math.MaxInt64
	if got := fetchBoth(2); !equalInt64s(bases(got["held"]), []int64{0, 1, 2}) {
		t.Fatalf("after lifting: held %v", bases(got["held"]))
	}
}
