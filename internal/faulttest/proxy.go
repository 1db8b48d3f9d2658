package faulttest

import (
	"errors"
	"io"
	"net"
	"sync"
)

// Proxy forwards TCP connections from its own loopback listener to one
// target address: one directed link between two nodes (node i reaching
// node j's Kafka or Raft listener). Cut drops the link at once, live
// connections included, and keeps it down until Heal; that is how the
// suite partitions the network without touching the kernel.
type Proxy struct {
	ln     net.Listener
	target string

	mu struct {
		sync.Mutex
		cut    bool
		closed bool
		// conns are the live connections of both sides (accepted and
		// dialled), closed together by Cut. Bounded by the connections
		// a node opens to one peer listener (a handful).
		conns map[net.Conn]struct{}
	}
	wg sync.WaitGroup
}

// maxProxyConns bounds the live connections of one link: a node keeps a
// few connections per peer listener, so more is a leak worth refusing.
const maxProxyConns = 256

// NewProxy listens on a random loopback port and forwards every
// connection to target until Close.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target}
	p.mu.conns = map[net.Conn]struct{}{}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Addr is the address to dial instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target is the address the proxy forwards to.
func (p *Proxy) Target() string { return p.target }

// Cut closes every live connection of the link and makes new ones close
// as soon as they are accepted, until Heal.
func (p *Proxy) Cut() {
	p.mu.Lock()
	p.mu.cut = true
	conns := p.mu.conns
	p.mu.conns = map[net.Conn]struct{}{}
	p.mu.Unlock()
	for c := range conns {
		c.Close()
	}
}

// Heal lets new connections through again.
func (p *Proxy) Heal() {
	p.mu.Lock()
	p.mu.cut = false
	p.mu.Unlock()
}

// IsCut reports whether the link is cut.
func (p *Proxy) IsCut() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.cut
}

// Close stops the listener and every connection and waits for the
// proxy's goroutines.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.mu.closed = true
	conns := p.mu.conns
	p.mu.conns = map[net.Conn]struct{}{}
	p.mu.Unlock()
	p.ln.Close()
	for c := range conns {
		c.Close()
	}
	p.wg.Wait()
}

// trackLocked adds c to the live connections; it reports false (and the
// caller closes c) when the link is cut, closed or full.
func (p *Proxy) trackLocked(c net.Conn) bool {
	if p.mu.cut || p.mu.closed || len(p.mu.conns) >= maxProxyConns {
		return false
	}
	p.mu.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	for _, c := range cs {
		delete(p.mu.conns, c)
	}
	p.mu.Unlock()
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // a transient accept error: keep serving
		}
		p.mu.Lock()
		ok := p.trackLocked(c)
		p.mu.Unlock()
		if !ok {
			c.Close()
			continue
		}
		p.wg.Add(1)
		go p.forward(c)
	}
}

// forward dials the target for one accepted connection and copies both
// ways until either side closes (or Cut closes both).
func (p *Proxy) forward(in net.Conn) {
	defer p.wg.Done()
	out, err := net.Dial("tcp", p.target)
	if err != nil {
		p.untrack(in)
		in.Close()
		return
	}
	p.mu.Lock()
	ok := p.trackLocked(out)
	p.mu.Unlock()
	if !ok {
		// Cut between the accept and the dial.
		p.untrack(in)
		in.Close()
		out.Close()
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		// Either direction ending ends the connection: a half-open link
		// is not a fault this suite models.
		dst.Close()
		src.Close()
		done <- struct{}{}
	}
	go pipe(out, in)
	go pipe(in, out)
	<-done
	<-done
	p.untrack(in, out)
}
