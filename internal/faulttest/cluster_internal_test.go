package faulttest

import (
	"net"
	"strconv"
	"strings"
	"testing"
)

// A child's alarm (a race report, a panic) is found even when it arrives
// split across writes and has long left the kept tail.
func TestTailBufferKeepsTailAndAlarms(t *testing.T) {
	b := newTailBuffer(64)
	b.Write([]byte("ordinary line\nWARNING: DATA"))
	b.Write([]byte(" RACE\nRead at 0x00 by goroutine 7:\n"))
	for range 100 {
		b.Write([]byte("more ordinary logging, line after line\n"))
	}
	if got := b.Alarms(); len(got) != 1 || got[0] != "WARNING: DATA RACE" {
		t.Fatalf("alarms %q", got)
	}
	tail := b.String()
	if len(tail) > 64 || !strings.HasSuffix(tail, "line after line\n") {
		t.Fatalf("tail %q", tail)
	}
}

func TestLineWatcherFindsAddress(t *testing.T) {
	found := make(chan string, 1)
	w := &lineWatcher{prefix: "listening ", found: found}
	w.Write([]byte("noise\nlisten"))
	w.Write([]byte("ing 127.0.0.1:1234\nlistening again\n"))
	if got := <-found; got != "127.0.0.1:1234" {
		t.Fatalf("address %q", got)
	}
}

// The nodes' ports are distinct and, where the kernel says where its
// ephemeral range starts, below it (so no ":0" listener or outgoing
// connection can take one between a kill and a restart).
func TestFreePortsAvoidEphemeralRange(t *testing.T) {
	ports := freePorts(t, 6)
	seen := map[string]bool{}
	low := ephemeralLow()
	for _, p := range ports {
		if seen[p] {
			t.Fatalf("port %s picked twice: %v", p, ports)
		}
		seen[p] = true
		_, portStr, err := net.SplitHostPort(p)
		if err != nil {
			t.Fatal(err)
		}
		port, _ := strconv.Atoi(portStr)
		if low > 11000 && port >= low {
			t.Fatalf("port %d is in the ephemeral range (from %d)", port, low)
		}
	}
}
