package replication_test

// An external test package: it starts a real broker (testbroker), and the
// broker imports this package to follow leaders in a cluster.

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/partition"
	"github.com/gregor-log/gregor/internal/replication"
	"github.com/gregor-log/gregor/internal/testbroker"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestFollowerOfTestbroker replicates a partition of a real broker over
// the network with the kgo-based client: records produced with kgo end up
// byte-identical in a follower partition in a temporary directory. The
// broker runs as a single node, so it serves this follower as an observer
// (outside its ISR); the ISR side is covered by the partition tests and
// TestFetcherDivergenceAndFailover.
func TestFollowerOfTestbroker(t *testing.T) {
	b := testbroker.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := b.Client(t, kgo.DefaultProduceTopic("replicated"), kgo.AllowAutoTopicCreation())
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "replicated"); err != nil {
		t.Fatal(err)
	}
	topics, err := adm.ListTopics(ctx, "replicated")
	if err != nil {
		t.Fatal(err)
	}
	td := topics["replicated"]
	leader := td.Partitions[0].Leader

	produceN := func(from, n int) {
		t.Helper()
		for i := from; i < from+n; i++ {
			r := &kgo.Record{Value: fmt.Appendf(nil, "record %d", i)}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	produceN(0, 50)

	dir := t.TempDir()
	p, err := partition.Open(dir, "replicated", 0, replication.TestPartitionConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.SetLocalReplicaID(leader + 100)
	if err := p.BecomeFollower(0, leader); err != nil {
		t.Fatal(err)
	}
	fcl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer fcl.Close()
	f := replication.New(replication.Config{ReplicaID: leader + 100, MaxWait: 100 * time.Millisecond, Backoff: 20 * time.Millisecond}, replication.NewKgoClient(fcl, leader))
	defer f.Close()
	f.Add(replication.TopicPartition{Topic: "replicated", TopicID: td.ID, Partition: 0}, p, 0)

	replication.WaitUntil(t, "the follower to copy 50 records", func() bool { return p.LogEndOffset() == 50 })
	produceN(50, 30) // while following: the long poll wakes on appends
	replication.WaitUntil(t, "the follower to copy 80 records", func() bool { return p.LogEndOffset() == 80 && p.HighWatermark() == 80 })
	leaderDir := filepath.Join(b.Dir, "replicated-0")
	if x, y := replication.SegmentBytes(t, leaderDir), replication.SegmentBytes(t, dir); !bytes.Equal(x, y) {
		t.Fatalf("logs differ: leader %d bytes, follower %d bytes", len(x), len(y))
	}

	// A follower by topic name (Fetch v12) works too.
	dir2 := t.TempDir()
	p2, err := partition.Open(dir2, "replicated", 0, replication.TestPartitionConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	if err := p2.BecomeFollower(0, leader); err != nil {
		t.Fatal(err)
	}
	f.Add(replication.TopicPartition{Topic: "replicated", Partition: 0}, p2, 0)
	replication.WaitUntil(t, "the second follower", func() bool { return p2.LogEndOffset() == 80 })
	if x, y := replication.SegmentBytes(t, leaderDir), replication.SegmentBytes(t, dir2); !bytes.Equal(x, y) {
		t.Fatal("second follower's log differs")
	}
}
