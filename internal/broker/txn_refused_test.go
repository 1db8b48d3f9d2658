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
