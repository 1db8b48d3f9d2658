package faulttest

import (
	"errors"
	"net"
	"sync"
	"time"
)

// Proxy forwards TCP connections from its own loopback listener to one
// target address: one directed link between two nodes (node i reaching
// node j's Kafka or Raft listener). Its faults, each undone by Heal:
//
//   - Cut drops the link at once, live connections included, and refuses
//     new ones: the partition every peer notices.
//   - Delay makes every byte arrive d later, both ways: a slow link.
//   - Stall keeps the connections open, and accepts new ones, but
//     forwards nothing either way: a half-open link that looks alive and
//     carries nothing. The bytes are held, not dropped, and flow again
//     on Heal.
//
// That is how the suite breaks the network without touching the kernel.
type Proxy struct {
	ln     net.Listener
	target string

	mu struct {
		sync.Mutex
		cut     bool
		stalled bool
		delay   time.Duration
		closed  bool
		// changed is closed (and replaced) whenever the fault changes or
		// the proxy closes, to wake the writers waiting on it.
		changed chan struct{}
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
	p.mu.changed = make(chan struct{})
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
	p.changedLocked()
	p.mu.Unlock()
	for c := range conns {
		c.Close()
	}
}

// Delay makes every byte forwarded on the link, either way, arrive d
// after the proxy read it, until Heal (or another Delay). Bytes already
// held are released by the new d. Each direction of a connection holds
// at most maxHeldBytes: beyond that the proxy stops reading its source,
// and TCP's flow control slows the sender down.
func (p *Proxy) Delay(d time.Duration) {
	p.mu.Lock()
	p.mu.delay = max(d, 0)
	p.changedLocked()
	p.mu.Unlock()
}

// Stall stops forwarding on the link, both ways, until Heal; live
// connections stay open and new ones are accepted (and dialled), so
// neither end sees an error: their writes fill the proxy's holding
// (maxHeldBytes per direction) and then the TCP windows, and block. A
// close is held too, behind the bytes sent before it. On Heal, what was
// held is delivered in order and the connections carry on.
//
// Held rather than reset on Heal: a reset would make the heal a cut,
// which the suite already has; delivering the stale requests late is
// the harder case (a fetch, a heartbeat or a Raft message from before
// the stall, arriving after the cluster moved on), and a peer that gave
// up on a connection has closed it anyway, which the heal delivers.
func (p *Proxy) Stall() {
	p.mu.Lock()
	p.mu.stalled = true
	p.changedLocked()
	p.mu.Unlock()
}

// Heal undoes every fault: new connections go through again, a delay
// ends and a stalled link delivers what it held.
func (p *Proxy) Heal() {
	p.mu.Lock()
	p.mu.cut, p.mu.stalled, p.mu.delay = false, false, 0
	p.changedLocked()
	p.mu.Unlock()
}

// IsCut reports whether the link is cut.
func (p *Proxy) IsCut() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.cut
}

// IsStalled reports whether the link is stalled.
func (p *Proxy) IsStalled() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.stalled
}

// Close stops the listener and every connection and waits for the
// proxy's goroutines.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.mu.closed = true
	conns := p.mu.conns
	p.mu.conns = map[net.Conn]struct{}{}
	p.changedLocked()
	p.mu.Unlock()
	p.ln.Close()
	for c := range conns {
		c.Close()
	}
	p.wg.Wait()
}

// changedLocked wakes every writer waiting for the fault to change.
func (p *Proxy) changedLocked() {
	close(p.mu.changed)
	p.mu.changed = make(chan struct{})
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

// forward dials the target for one accepted connection and runs a delay
// line each way until either side closes (or Cut closes both).
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
	var wg sync.WaitGroup
	for _, dir := range [][2]net.Conn{{out, in}, {in, out}} {
		dst, src := dir[0], dir[1]
		l := newDelayLine()
		wg.Add(2)
		go func() { defer wg.Done(); l.fill(src) }()
		go func() { defer wg.Done(); p.drain(dst, src, l) }()
	}
	wg.Wait()
	p.untrack(in, out)
}

// drain writes what l holds to dst, each chunk once the link's fault
// lets it through. Either direction ending ends the connection (both
// sides closed): the half-open case is Stall's, not a lone FIN's.
func (p *Proxy) drain(dst, src net.Conn, l *delayLine) {
	defer func() {
		l.abandon()
		dst.Close()
		src.Close()
	}()
	for {
		c := l.pop()
		if !p.await(c.read) || c.end {
			return
		}
		if _, err := dst.Write(c.data); err != nil {
			return
		}
	}
}

// await blocks until a chunk read at read may go out: the link is not
// stalled and its delay has passed. It reports false when the link was
// cut or closed meanwhile (the chunk is dropped with its connection).
func (p *Proxy) await(read time.Time) bool {
	for {
		p.mu.Lock()
		cut, closed, stalled, delay, changed := p.mu.cut, p.mu.closed, p.mu.stalled, p.mu.delay, p.mu.changed
		p.mu.Unlock()
		switch {
		case cut || closed:
			return false
		case stalled:
			<-changed
			continue
		}
		wait := time.Until(read.Add(delay))
		if wait <= 0 {
			return true
		}
		timer := time.NewTimer(wait)
		select {
		case <-timer.C: // the delay line's own clock, not a wait for state
		case <-changed:
			timer.Stop()
		}
	}
}

// maxHeldBytes bounds what one direction of one connection holds while
// delayed or stalled; beyond it the proxy stops reading, which pushes
// back on the sender through TCP instead of growing without bound.
const maxHeldBytes = 4 << 20

// chunkBytes is the most one read takes from a source.
const chunkBytes = 32 << 10

// chunk is what one read returned, stamped with when: end marks the
// source's close (or error), which is forwarded in order too.
type chunk struct {
	read time.Time
	data []byte
	end  bool
}

// delayLine is one direction of one connection: chunks read from the
// source and not yet written to the destination, oldest first.
type delayLine struct {
	mu struct {
		sync.Mutex
		chunks []chunk
		held   int  // bytes in chunks; at most maxHeldBytes+chunkBytes
		gone   bool // the writer ended: push drops everything
	}
	// space and ready are one-slot wake-ups: the reader waits on space
	// when the line is full, the writer on ready when it is empty.
	space chan struct{}
	ready chan struct{}
}

func newDelayLine() *delayLine {
	return &delayLine{space: make(chan struct{}, 1), ready: make(chan struct{}, 1)}
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// fill reads src into the line until src fails or closes, then pushes
// the end marker.
func (l *delayLine) fill(src net.Conn) {
	buf := make([]byte, chunkBytes)
	for {
		n, err := src.Read(buf)
		if n > 0 && !l.push(chunk{read: time.Now(), data: append([]byte(nil), buf[:n]...)}) {
			return
		}
		if err != nil {
			l.push(chunk{read: time.Now(), end: true})
			return
		}
	}
}

// push appends c, waiting while the line is full; it reports false when
// the writer is gone. The end marker always fits.
func (l *delayLine) push(c chunk) bool {
	for {
		l.mu.Lock()
		if l.mu.gone {
			l.mu.Unlock()
			return false
		}
		if c.end || l.mu.held < maxHeldBytes {
			l.mu.chunks = append(l.mu.chunks, c)
			l.mu.held += len(c.data)
			l.mu.Unlock()
			wake(l.ready)
			return true
		}
		l.mu.Unlock()
		<-l.space
	}
}

// pop takes the oldest chunk, waiting for one. The reader always ends
// with an end marker (or stops after abandon), so pop returns.
func (l *delayLine) pop() chunk {
	for {
		l.mu.Lock()
		if len(l.mu.chunks) > 0 {
			c := l.mu.chunks[0]
			l.mu.chunks[0] = chunk{}
			l.mu.chunks = l.mu.chunks[1:]
			l.mu.held -= len(c.data)
			l.mu.Unlock()
			wake(l.space)
			return c
		}
		l.mu.Unlock()
		<-l.ready
	}
}

// abandon tells the reader the writer is gone, so it stops waiting for
// space.
func (l *delayLine) abandon() {
	l.mu.Lock()
	l.mu.gone = true
	l.mu.chunks, l.mu.held = nil, 0
	l.mu.Unlock()
	wake(l.space)
}
