package faulttest

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"
)

// echoServer echoes every line it reads, until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// roundTrip sends a line through c and reads it back.
func roundTrip(c net.Conn, line string) (string, error) {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", err
	}
	return got[:len(got)-1], nil
}

// A cut closes the live connections of the link and refuses new ones
// (they are closed at once); a heal lets new connections through.
func TestProxyCutAndHeal(t *testing.T) {
	p, err := NewProxy(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	live, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	if got, err := roundTrip(live, "before"); err != nil || got != "before" {
		t.Fatalf("through the proxy: %q, %v", got, err)
	}

	p.Cut()
	if got, err := roundTrip(live, "during"); err == nil {
		t.Fatalf("a live connection still carried %q after Cut", got)
	}
	refused, err := net.Dial("tcp", p.Addr())
	if err == nil {
		defer refused.Close()
		if got, err := roundTrip(refused, "new"); err == nil {
			t.Fatalf("a new connection carried %q while cut", got)
		}
	}

	p.Heal()
	healed, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer healed.Close()
	if got, err := roundTrip(healed, "after"); err != nil || got != "after" {
		t.Fatalf("after Heal: %q, %v", got, err)
	}
}

// The dialer of a child sends a peer's address through its link's proxy
// and anything else directly.
func TestLinkDialerRoutesThroughProxy(t *testing.T) {
	peer := echoServer(t)
	other := echoServer(t)
	p, err := NewProxy(peer)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	dial := linkDialer(map[string]string{peer: p.Addr()})
	p.Cut()
	if c, err := dial(t.Context(), "tcp", peer); err == nil {
		_, err := roundTrip(c, "x")
		c.Close()
		if err == nil {
			t.Fatal("the peer was reached around a cut proxy")
		}
	}
	c, err := dial(t.Context(), "tcp", other)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, err := roundTrip(c, "direct"); err != nil || got != "direct" {
		t.Fatalf("a non-peer address: %q, %v", got, err)
	}
}
