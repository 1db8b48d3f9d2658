package faulttest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
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

// dialProxy opens a connection through p, closed when the test ends.
func dialProxy(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// A delayed link delivers every byte, in order, no sooner than the delay
// (an echo crosses it twice); Heal ends the delay for bytes already held.
func TestProxyDelay(t *testing.T) {
	const d = 100 * time.Millisecond
	for _, tc := range []struct {
		name  string
		lines int
	}{
		{"one line", 1},
		{"many lines in flight", 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewProxy(echoServer(t))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			p.Delay(d)
			c := dialProxy(t, p)
			c.SetDeadline(time.Now().Add(10 * time.Second))
			start := time.Now()
			var sent strings.Builder
			for i := range tc.lines {
				fmt.Fprintf(&sent, "line %d\n", i)
			}
			if _, err := io.WriteString(c, sent.String()); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, sent.Len())
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatal(err)
			}
			if elapsed := time.Since(start); elapsed < 2*d {
				t.Fatalf("an echo through a link delayed by %v came back after %v", d, elapsed)
			}
			if string(got) != sent.String() {
				t.Fatalf("the delayed link reordered or changed bytes: %q", got)
			}
		})
	}

	t.Run("heal releases held bytes", func(t *testing.T) {
		p, err := NewProxy(echoServer(t))
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		p.Delay(time.Hour)
		c := dialProxy(t, p)
		if _, err := io.WriteString(c, "held\n"); err != nil {
			t.Fatal(err)
		}
		p.Heal()
		if got, err := roundTrip(c, "after"); err != nil || got != "held" {
			t.Fatalf("after Heal: %q, %v", got, err)
		}
	})
}

// A stalled link accepts connections and keeps them open but forwards
// nothing, either way, until Heal; then what was held arrives in order.
func TestProxyStall(t *testing.T) {
	p, err := NewProxy(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	live := dialProxy(t, p)
	if got, err := roundTrip(live, "before"); err != nil || got != "before" {
		t.Fatalf("through the proxy: %q, %v", got, err)
	}

	p.Stall()
	if !p.IsStalled() {
		t.Fatal("IsStalled is false after Stall")
	}
	fresh := dialProxy(t, p) // accepted while stalled
	r := map[net.Conn]*bufio.Reader{live: bufio.NewReader(live), fresh: bufio.NewReader(fresh)}
	for c, name := range map[net.Conn]string{live: "live", fresh: "fresh"} {
		if _, err := io.WriteString(c, name+"\n"); err != nil {
			t.Fatalf("%s: a write to a stalled link failed: %v", name, err)
		}
		// Nothing may come back: a short read deadline proves no more
		// than "not yet", which is all a stall promises.
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if got, err := r[c].ReadString('\n'); err == nil {
			t.Fatalf("%s: a stalled link carried %q", name, got)
		} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
			t.Fatalf("%s: a stalled link failed the connection: %v", name, err)
		}
	}

	p.Heal()
	for c, name := range map[net.Conn]string{live: "live", fresh: "fresh"} {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if got, err := r[c].ReadString('\n'); err != nil || got != name+"\n" {
			t.Fatalf("%s: after Heal, the held line: %q, %v", name, got, err)
		}
	}
}

// A stalled link holds a bounded amount: a sender that keeps writing is
// blocked by TCP flow control, not buffered without end.
func TestProxyStallBackPressure(t *testing.T) {
	p, err := NewProxy(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Stall()
	c := dialProxy(t, p)
	c.SetWriteDeadline(time.Now().Add(time.Second))
	chunk := make([]byte, 1<<20)
	written := 0
	for written < 256<<20 {
		n, err := c.Write(chunk)
		written += n
		if err != nil {
			if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
				t.Fatalf("after %d bytes: %v", written, err)
			}
			t.Logf("the sender blocked after %d KiB", written>>10)
			return
		}
	}
	t.Fatalf("a stalled link took %d MiB without pushing back", written>>20)
}

// Cut ends a stalled or delayed link's connections too.
func TestProxyCutEndsStallAndDelay(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault func(*Proxy)
	}{
		{"stall", (*Proxy).Stall},
		{"delay", func(p *Proxy) { p.Delay(time.Hour) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewProxy(echoServer(t))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			c := dialProxy(t, p)
			tc.fault(p)
			io.WriteString(c, "dropped\n")
			p.Cut()
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if got, err := bufio.NewReader(c).ReadString('\n'); err == nil {
				t.Fatalf("a cut link carried %q", got)
			} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("a cut link kept the connection open")
			}
			p.Heal()
			if got, err := roundTrip(dialProxy(t, p), "after"); err != nil || got != "after" {
				t.Fatalf("after Heal: %q, %v", got, err)
			}
		})
	}
}
