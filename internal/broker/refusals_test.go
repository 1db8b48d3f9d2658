package broker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/testbroker"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Transactions do not exist yet: a transactional producer must fail fast
// with a clear, non-retriable error, not hang retrying a coordinator
// lookup.
func TestTransactionalProducerRefusedFast(t *testing.T) {
	b := testbroker.Start(t, nil)
	cl := b.Client(t, kgo.TransactionalID("tx-1"), kgo.DefaultProduceTopic("tx"), kgo.AllowAutoTopicCreation())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := cl.BeginTransaction()
	if err == nil {
		err = cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr()
	}
	if ctx.Err() != nil {
		t.Fatalf("transactional produce hung until the deadline: %v", err)
	}
	if !errors.Is(err, kerr.TransactionalIDAuthorizationFailed) {
		t.Fatalf("got %v, want TRANSACTIONAL_ID_AUTHORIZATION_FAILED", err)
	}
}

// Deleting __consumer_offsets under a running coordinator would lose every
// group's offsets: the broker refuses it whatever the client.
func TestInternalTopicNotDeletable(t *testing.T) {
	b := testbroker.Start(t, map[string]string{"group.initial.rebalance.delay.ms": "0"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := b.Admin(t)
	// A commit creates __consumer_offsets.
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	cl := b.Client(t, kgo.ConsumerGroup("g"), kgo.ConsumeTopics("t"))
	if err := cl.CommitRecords(ctx, &kgo.Record{Topic: "t", Partition: 0, Offset: 0}); err != nil {
		t.Fatalf("commit: %v", err)
	}
	resp, err := adm.DeleteTopics(ctx, "__consumer_offsets")
	if err != nil {
		t.Fatal(err)
	}
	if r := resp["__consumer_offsets"]; !errors.Is(r.Err, kerr.InvalidTopicException) {
		t.Fatalf("delete __consumer_offsets: got %v, want INVALID_TOPIC_EXCEPTION", r.Err)
	}
}
