package quorum

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestKill9 runs a one-voter node in a child process (this test binary,
// re-executed) that appends as fast as it can and prints each
// acknowledged append; the parent kill -9s it mid-stream and reopens its
// directory: every acknowledged append is there, and the topics form a
// prefix of what the child wrote.
func TestKill9(t *testing.T) {
	if dir := os.Getenv("QUORUM_KILL9_DIR"); dir != "" {
		kill9Child(dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9$", "-test.count=1")
	cmd.Env = append(os.Environ(), "QUORUM_KILL9_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := -1
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
			if acked, err = strconv.Atoi(v); err != nil {
				t.Fatal(err)
			}
			if acked >= 60 {
				break
			}
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no chance to flush
		t.Fatal(err)
	}
	cmd.Wait()
	if acked < 60 {
		t.Fatalf("the child acknowledged only %d appends", acked+1)
	}

	n, err := Open(Config{NodeID: 0, Dir: dir, TickInterval: testTick, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	// The last entries may have been written but not known committed: the
	// reopened leader commits them shortly after Open.
	eventually(t, "every acknowledged topic", func() bool { return n.Image().NumTopics() > acked })
	img := n.Image()
	for i := range img.NumTopics() {
		if _, ok := img.Topic(fmt.Sprintf("t%05d", i)); !ok {
			t.Fatalf("topic %d of %d missing", i, img.NumTopics())
		}
	}
}

func kill9Child(dir string) {
	n, err := Open(Config{NodeID: 0, Dir: dir, TickInterval: testTick})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := n.AppendContext(ctx, topic(fmt.Sprintf("t%05d", i), 1)...)
		cancel()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Printf("acked %d\n", i)
	}
}
