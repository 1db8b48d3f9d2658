package broker_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/testbroker"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestGroupCommitsSurviveKill9 commits offsets continuously, kills the
// broker with SIGKILL mid-stream, restarts it on the same data, and checks
// that the last acknowledged commit is there.
func TestGroupCommitsSurviveKill9(t *testing.T) {
	dir := t.TempDir()
	child := testbroker.StartProcess(t, dir)
	addr := child.Addr
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RetryTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "k9"); err != nil {
		t.Fatal(err)
	}

	var acked, attempted atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := int64(1); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			attempted.Store(i)
			var offs kadm.Offsets
			offs.AddOffset("k9", 0, i, -1)
			resp, err := adm.CommitOffsets(ctx, "k9-group", offs)
			if err != nil || resp.Error() != nil {
				return // the broker died
			}
			acked.Store(i)
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for acked.Load() < 50 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d commits acknowledged", acked.Load())
		}
		time.Sleep(10 * time.Millisecond) // waiting for a condition, with a deadline
	}
	child.Kill(t)
	close(stop)
	<-done
	cl.Close()
	last, tried := acked.Load(), attempted.Load()

	addr = testbroker.StartProcess(t, dir).Addr
	cl2, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	adm2 := kadm.NewClient(cl2)
	for {
		offs, err := adm2.FetchOffsets(ctx, "k9-group")
		if err == nil {
			o, ok := offs.Lookup("k9", 0)
			if !ok || o.At < last || o.At > tried {
				t.Fatalf("after kill -9: committed %+v (ok %v), last acknowledged %d, last tried %d", o, ok, last, tried)
			}
			t.Logf("last acknowledged commit %d, found %d after kill -9", last, o.At)
			return
		}
		if !errors.Is(err, kerr.CoordinatorLoadInProgress) && !errors.Is(err, kerr.CoordinatorNotAvailable) {
			t.Logf("fetch offsets: %v", err)
		}
		if ctx.Err() != nil {
			t.Fatal("timed out fetching offsets after the restart")
		}
		time.Sleep(20 * time.Millisecond) // retry until the coordinator has loaded
	}
}
