package compat

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/testbroker"
)

// message is one record as a client sent it, for comparing with what is
// read back.
type message struct {
	Key, Value string
	Headers    map[string]string
}

// at identifies where the broker acknowledged a record.
type at struct {
	Partition int32
	Offset    int64
}

// createTopic makes a topic with franz-go's admin client so that each
// compat test exercises its own client's data path, not topic creation.
func createTopic(t *testing.T, b *testbroker.Broker, topic string, partitions int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := b.Admin(t).CreateTopic(ctx, partitions, 1, nil, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic %s: %v %v", topic, err, resp.Err)
	}
}

// requireTool skips the test when an external client is missing, or fails
// it when GREGOR_TEST_REQUIRE_COMPAT says the run must cover it.
func requireTool(t *testing.T, path string, args ...string) {
	t.Helper()
	if err := exec.Command(path, args...).Run(); err != nil {
		msg := fmt.Sprintf("%s not usable (%v); install Debian's kcat and python3-confluent-kafka", path, err)
		if os.Getenv("GREGOR_TEST_REQUIRE_COMPAT") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

// compare checks that got holds exactly the records in sent, each at the
// position the broker acknowledged it.
func compare(t *testing.T, sent, got map[at]message) {
	t.Helper()
	if len(got) != len(sent) {
		t.Errorf("read %d records, sent %d", len(got), len(sent))
	}
	bad := 0
	for pos, want := range sent {
		have, ok := got[pos]
		switch {
		case !ok:
			t.Errorf("record at %+v missing", pos)
		case have.Key != want.Key || have.Value != want.Value || fmt.Sprint(have.Headers) != fmt.Sprint(want.Headers):
			t.Errorf("record at %+v: got %+v, sent %+v", pos, have, want)
		default:
			continue
		}
		if bad++; bad > 5 {
			t.Fatal("too many mismatches")
		}
	}
}
