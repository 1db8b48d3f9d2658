package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// devChildEnv makes the test binary act as the gregor binary: "dev
// cluster" re-executes its own binary with serve arguments, and in a test
// that binary is this one. Children inherit the variable from the test.
const devChildEnv = "GREGOR_TEST_DEV_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(devChildEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		os.Exit(Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// A multi-process cluster started by "gregor dev cluster": kill -9 of the
// partition leader under acks=all (rf=3, min.insync.replicas=2) loses no
// acknowledged record. Set GREGOR_TEST_MULTIPROCESS=1 to run it (it starts
// three broker processes).
func TestDevClusterSurvivesKill9(t *testing.T) {
	if os.Getenv("GREGOR_TEST_MULTIPROCESS") != "1" {
		t.Skip("set GREGOR_TEST_MULTIPROCESS=1 to run the multi-process cluster test")
	}
	t.Setenv(devChildEnv, "1")
	// Short liveness timeouts, inherited by the nodes as broker configs.
	t.Setenv("GREGOR_BROKER_HEARTBEAT_INTERVAL_MS", "100")
	t.Setenv("GREGOR_BROKER_SESSION_TIMEOUT_MS", "1500")
	t.Setenv("GREGOR_CONTROLLED_SHUTDOWN_ENABLE", "false")

	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"dev", "cluster", "--nodes", "3", "--data-dir", t.TempDir(), "--log-level", "warn"},
			strings.NewReader(""), pw, io.Discard)
		pw.Close()
	}()
	defer func() {
		cancel()
		<-done
	}()

	pids := map[int32]int{}
	nodeLine := regexp.MustCompile(`^node (\d+): \S+ \(pid (\d+),`)
	var bootstrap []string
	lines := bufio.NewScanner(pr)
	for bootstrap == nil && lines.Scan() {
		if m := nodeLine.FindStringSubmatch(lines.Text()); m != nil {
			id, _ := strconv.Atoi(m[1])
			pid, _ := strconv.Atoi(m[2])
			pids[int32(id)] = pid
		}
		if b, ok := strings.CutPrefix(lines.Text(), "bootstrap: "); ok {
			bootstrap = strings.Split(b, ",")
		}
	}
	go io.Copy(io.Discard, pr)
	if len(pids) != 3 || bootstrap == nil {
		t.Fatalf("dev cluster printed %d nodes, bootstrap %v", len(pids), bootstrap)
	}

	tctx, tcancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer tcancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap...), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(1000))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	const topic = "kill9"
	minISR := "2"
	for {
		resp, err := adm.CreateTopic(tctx, 1, 3, map[string]*string{"min.insync.replicas": &minISR}, topic)
		if err == nil && resp.Err == nil {
			break
		}
		if tctx.Err() != nil {
			t.Fatalf("CreateTopic: %v / %v", err, resp.Err)
		}
		time.Sleep(100 * time.Millisecond) // the brokers are still registering; retried under the deadline
	}
	acked := map[int64]string{}
	produce := func(from, to int) {
		for i := from; i < to; i++ {
			v := fmt.Sprintf("v%d", i)
			r, err := cl.ProduceSync(tctx, &kgo.Record{Topic: topic, Value: []byte(v)}).First()
			if err != nil {
				t.Fatalf("produce %d: %v", i, err)
			}
			acked[r.Offset] = v
		}
	}
	produce(0, 100)
	topics, err := adm.ListTopics(tctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	leader := topics[topic].Partitions[0].Leader
	pid, ok := pids[leader]
	if !ok {
		t.Fatalf("leader %d is not a node we started", leader)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	produce(100, 200)

	cons, err := kgo.NewClient(kgo.SeedBrokers(bootstrap...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	got := map[int64]string{}
	for len(got) < len(acked) {
		fs := cons.PollFetches(tctx)
		if tctx.Err() != nil {
			t.Fatalf("read %d of %d acknowledged records", len(got), len(acked))
		}
		fs.EachRecord(func(r *kgo.Record) { got[r.Offset] = string(r.Value) })
	}
	for off, v := range acked {
		if got[off] != v {
			t.Fatalf("offset %d: read %q, acknowledged %q", off, got[off], v)
		}
	}
}
