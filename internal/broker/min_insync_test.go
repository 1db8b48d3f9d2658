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

// min.insync.replicas is enforced for acks=all: with one broker and a topic
// asking for two in-sync replicas, Kafka refuses the write with
// NOT_ENOUGH_REPLICAS and writes nothing; acks=1 is not affected.
func TestMinInsyncReplicasEnforced(t *testing.T) {
	b := testbroker.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mis := "2"
	if _, err := b.Admin(t).CreateTopic(ctx, 1, 1, map[string]*string{"min.insync.replicas": &mis}, "mis"); err != nil {
		t.Fatal(err)
	}
	all := b.Client(t, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(1), kgo.DisableIdempotentWrite())
	err := all.ProduceSync(ctx, &kgo.Record{Topic: "mis", Value: []byte("x")}).FirstErr()
	if !errors.Is(err, kerr.NotEnoughReplicas) {
		t.Fatalf("acks=all with min.insync.replicas=2 on one broker: got %v, want NOT_ENOUGH_REPLICAS", err)
	}
	one := b.Client(t, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	r, err := one.ProduceSync(ctx, &kgo.Record{Topic: "mis", Value: []byte("y")}).First()
	if err != nil {
		t.Fatalf("acks=1: %v", err)
	}
	if r.Offset != 0 {
		t.Fatalf("acks=1 record at offset %d: the refused acks=all write must not have been stored", r.Offset)
	}
}
