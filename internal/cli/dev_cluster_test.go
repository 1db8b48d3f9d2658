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

	"github.com/gregor-log/gregor/internal/perf"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// devChildEnv makes the test binary act as the gregor binary: "dev
// cluster" re-executes its own binary with serve arguments, and in a test
// that binary is this one. Children inherit the variable from the test.
const devChildEnv = "GREGOR_TEST_DEV_CHILD"

func TestMain(m *testing.M) {
	// "bench compare" starts its kfake peer by re-executing this binary.
	perf.ServeKfakeChild()
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

	pids, _, bootstrap := runDevCluster(t, "--nodes", "3")
	if len(pids) != 3 {
		t.Fatalf("dev cluster printed %d nodes", len(pids))
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

// runDevCluster runs "dev cluster" with args until the test ends and
// returns what it printed: each node's pid and role, and the bootstrap
// addresses.
func runDevCluster(t *testing.T, args ...string) (pids map[int32]int, roles map[int32]string, bootstrap []string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, append([]string{"dev", "cluster", "--data-dir", t.TempDir(), "--log-level", "warn"}, args...),
			strings.NewReader(""), pw, io.Discard)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	pids, roles = map[int32]int{}, map[int32]string{}
	nodeLine := regexp.MustCompile(`^node (\d+): \S+ \(pid (\d+), (\w+),`)
	lines := bufio.NewScanner(pr)
	for bootstrap == nil && lines.Scan() {
		if m := nodeLine.FindStringSubmatch(lines.Text()); m != nil {
			id, _ := strconv.Atoi(m[1])
			pid, _ := strconv.Atoi(m[2])
			pids[int32(id)], roles[int32(id)] = pid, m[3]
		}
		if b, ok := strings.CutPrefix(lines.Text(), "bootstrap: "); ok {
			bootstrap = strings.Split(b, ",")
		}
	}
	go io.Copy(io.Discard, pr)
	if bootstrap == nil {
		t.Fatal("dev cluster printed no bootstrap address")
	}
	return pids, roles, bootstrap
}

// "gregor dev cluster --nodes 6": five voters and one learner. Every node
// is a broker: the learner is listed, never the controller, and holds a
// replica of a topic on all six nodes that takes acks=all produces and
// reads back. Set GREGOR_TEST_MULTIPROCESS=1 to run it (six broker
// processes).
func TestDevClusterSixNodes(t *testing.T) {
	if os.Getenv("GREGOR_TEST_MULTIPROCESS") != "1" {
		t.Skip("set GREGOR_TEST_MULTIPROCESS=1 to run the multi-process cluster test")
	}
	t.Setenv(devChildEnv, "1")
	t.Setenv("GREGOR_BROKER_HEARTBEAT_INTERVAL_MS", "100")
	t.Setenv("GREGOR_BROKER_SESSION_TIMEOUT_MS", "1500")
	pids, roles, bootstrap := runDevCluster(t, "--nodes", "6")
	if len(pids) != 6 || len(bootstrap) != 6 {
		t.Fatalf("dev cluster printed %d nodes, bootstrap %v", len(pids), bootstrap)
	}
	for id, role := range roles {
		if want := map[bool]string{true: "voter", false: "learner"}[id <= 5]; role != want {
			t.Fatalf("node %d is a %s, want a %s", id, role, want)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const topic = "six"
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordRetries(1000), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for {
		// Until all six brokers registered: the topic needs them all.
		resp, err := adm.CreateTopic(ctx, 1, 6, nil, topic)
		if err == nil && resp.Err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("CreateTopic: %v / %v", err, resp.Err)
		}
		time.Sleep(100 * time.Millisecond) // the brokers are still registering; retried under the deadline
	}
	// Each node's metadata trails the controller's a little: ask until
	// the one answering lists all six (a fresh request each time, not
	// kadm's cached metadata).
	for {
		md, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
		if err == nil && (md.ControllerID < 1 || md.ControllerID > 5) {
			t.Fatalf("Metadata names %d the controller, not a voter", md.ControllerID)
		}
		if err == nil && len(md.Brokers) == 6 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("Metadata: %v; want 6 brokers", err)
		}
		time.Sleep(50 * time.Millisecond) // polling a condition, with the test's deadline
	}
	for i := range 50 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(bootstrap...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	for got := 0; got < 50; {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of 50 records", got)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Value) != fmt.Sprint(r.Offset) {
				t.Fatalf("offset %d holds %q", r.Offset, r.Value)
			}
			got++
		})
	}
}
