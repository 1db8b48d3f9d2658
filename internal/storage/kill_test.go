package storage

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/record"
)

const (
	helperDirEnv   = "GREGOR_STORAGE_HELPER_DIR"
	helperFlushEnv = "GREGOR_STORAGE_HELPER_FLUSH"
	helperMax      = 100000 // the helper stops by itself if nobody kills it
)

// helperBatch is the i-th batch the helper appends, before offsets and
// epoch are assigned; the parent regenerates it to compare bytes.
func helperBatch(i int) []byte {
	return makeBatch(1+i%3, 20+(i*7)%200, int64(1_700_000_000_000+i), byte(i))
}

func helperConfig(flushMessages int64) Config {
	return Config{SegmentBytes: 8 << 10, IndexIntervalBytes: 512, FlushMessages: flushMessages}
}

// TestHelperAppender is not a test: TestKill9 runs the test binary again
// with only this function and the environment variable set. It appends
// batches until killed, printing each acknowledged append.
func TestHelperAppender(t *testing.T) {
	dir := os.Getenv(helperDirEnv)
	if dir == "" {
		t.Skip("helper process for TestKill9")
	}
	flush, _ := strconv.ParseInt(os.Getenv(helperFlushEnv), 10, 64)
	l, err := Open(dir, helperConfig(flush))
	if err != nil {
		fmt.Printf("error %v\n", err)
		os.Exit(2)
	}
	for i := 0; i < helperMax; i++ {
		res, err := l.Append(helperBatch(i), leader(1))
		if err != nil {
			fmt.Printf("error %v\n", err)
			os.Exit(2)
		}
		fmt.Printf("ack %d %d\n", i, res.FirstOffset)
	}
	os.Exit(0)
}

// TestKill9 kills an appending process with SIGKILL at a random point and
// checks that the reopened log holds every acknowledged batch, byte for
// byte, in order, and nothing but a prefix of what was appended.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	for iter := 0; iter < 4; iter++ {
		flush := []int64{1, 1 << 40}[iter%2]
		want := 20 + rng.IntN(400)
		t.Run(fmt.Sprintf("iter%d-flush%d-after%d", iter, flush, want), func(t *testing.T) {
			dir := t.TempDir()
			acked := runAndKill(t, dir, flush, want)
			if acked < want {
				t.Fatalf("helper acknowledged only %d appends", acked)
			}
			l := mustOpen(t, dir, helperConfig(flush))
			defer l.Close()
			got := readAll(t, l, 0)
			// Walk the recovered log against the regenerated batches.
			var next int64
			n := 0
			for len(got) > 0 {
				b := helperBatch(n)
				record.SetBaseOffset(b, next)
				record.SetPartitionLeaderEpoch(b, 1)
				if len(got) < len(b) || !bytes.Equal(got[:len(b)], b) {
					t.Fatalf("batch %d differs from what was appended", n)
				}
				h, _ := record.ReadHeader(b)
				next = h.NextOffset()
				got = got[len(b):]
				n++
			}
			if n < acked {
				t.Fatalf("recovered %d batches, %d were acknowledged", n, acked)
			}
			if l.LogEndOffset() != next {
				t.Fatalf("LogEndOffset %d, batches end at %d", l.LogEndOffset(), next)
			}
			t.Logf("acknowledged %d, recovered %d batches in %d segments", acked, n, len(l.segs()))
		})
	}
}

// runAndKill starts the helper, kills it once it has acknowledged at least
// killAfter appends, and returns how many it acknowledged in total.
func runAndKill(t *testing.T, dir string, flush int64, killAfter int) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperAppender$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperDirEnv+"="+dir, helperFlushEnv+"="+strconv.FormatInt(flush, 10))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked, killed := 0, false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "error") {
			t.Errorf("helper: %s", line)
		}
		var i int
		var off int64
		if _, err := fmt.Sscanf(line, "ack %d %d", &i, &off); err != nil {
			continue
		}
		if i != acked {
			t.Fatalf("helper acknowledged append %d after %d", i, acked)
		}
		acked++
		if acked >= killAfter && !killed {
			if err := cmd.Process.Kill(); err != nil { // SIGKILL, this process only
				t.Fatal(err)
			}
			killed = true
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatalf("helper exited before being killed (%d acknowledged)", acked)
	}
	return acked
}
