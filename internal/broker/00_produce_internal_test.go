package broker_test

import (
	"errors"
	"testing"

	"github.com/gregor-log/gregor/internal/testbroker"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestProduceToInternalTopicRefused: clients cannot write into
// __consumer_offsets (a forged commit or tombstone would rewrite a group's
// offsets at the next load); Kafka answers INVALID_TOPIC_EXCEPTION.
func TestProduceToInternalTopicRefused(t *testing.T) {
	b := testbroker.Start(t, nil)
	ctx := produceCtx(t)
	// A group commit creates __consumer_offsets.
	feTopic(t, b, "work", 1)
	commit := kadm.Offsets{}
	commit.Add(kadm.Offset{Topic: "work", Partition: 0, At: 0, LeaderEpoch: -1})
	if _, err := b.Admin(t).CommitOffsets(ctx, "g", commit); err != nil {
		t.Fatal(err)
	}
	before, err := b.Admin(t).ListEndOffsets(ctx, "__consumer_offsets")
	if err != nil {
		t.Fatal(err)
	}
	cl := b.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RecordRetries(1))
	err = cl.ProduceSync(ctx, &kgo.Record{Topic: "__consumer_offsets", Partition: 0, Key: []byte("forged"), Value: []byte("x")}).FirstErr()
	if !errors.Is(err, kerr.InvalidTopicException) {
		t.Fatalf("produce to __consumer_offsets: %v, want INVALID_TOPIC_EXCEPTION", err)
	}
	after, err := b.Admin(t).ListEndOffsets(ctx, "__consumer_offsets")
	if err != nil {
		t.Fatal(err)
	}
	o0, _ := before.Lookup("__consumer_offsets", 0)
	o1, _ := after.Lookup("__consumer_offsets", 0)
	if o0.Offset != o1.Offset {
		t.Fatalf("__consumer_offsets partition 0 went from %d to %d after a refused produce", o0.Offset, o1.Offset)
	}
}
