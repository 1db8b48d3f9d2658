package broker_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/broker"
	"github.com/gregor-log/gregor/internal/config"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// groupChildEnv makes TestGroupChildBroker serve a data directory: the
// kill -9 test re-executes this test binary so it can kill a real process.
const groupChildEnv = "GREGOR_GROUP_CHILD_DIR"

// TestGroupChildBroker is the child of TestGroupCommitsSurviveKill9; run
// directly it does nothing.
func TestGroupChildBroker(t *testing.T) {
	dir := os.Getenv(groupChildEnv)
	if dir == "" {
		t.Skip("only runs as the child of TestGroupCommitsSurviveKill9")
	}
	cfg := config.Default()
	for k, v := range map[string]string{"log.dirs": dir, "listeners": "PLAINTEXT://127.0.0.1:0", "admin.listener": ""} {
		if err := cfg.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	b, err := broker.New(cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("listening %s\n", b.Addrs()[0])
	select {} // until killed
}

func startGroupChild(t *testing.T, dir string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestGroupChildBroker$")
	cmd.Env = append(os.Environ(), groupChildEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				addr <- a
			}
		}
	}()
	select {
	case a := <-addr:
		return cmd, a
	case <-time.After(30 * time.Second):
		t.Fatal("child broker did not report its address")
		return nil, ""
	}
}

// TestGroupCommitsSurviveKill9 commits offsets continuously, kills the
// broker with SIGKILL mid-stream, restarts it on the same data, and checks
// that the last acknowledged commit is there.
func TestGroupCommitsSurviveKill9(t *testing.T) {
	dir := t.TempDir()
	child, addr := startGroupChild(t, dir)
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
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	close(stop)
	<-done
	cl.Close()
	last, tried := acked.Load(), attempted.Load()

	_, addr = startGroupChild(t, dir)
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
