package quorum

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// The transport carries Raft messages between nodes over TCP. Every node
// dials every peer it sends to: a connection carries messages one way
// only, from the dialer to the acceptor. A connection starts with a hello
//
//	offset size field
//	     0    4 magic "GRQT"
//	     4    1 version (1)
//	     5    8 the dialer's Raft id (big endian)
//	    13    8 the acceptor's Raft id, as the dialer knows it
//
// then carries frames: a 4-byte big-endian length, then a raftpb.Message
// in protobuf encoding. The acceptor checks that the dialer is a member it
// knows and that the hello names itself, and that each message is from the
// dialer, to itself, and of a type that travels between nodes. Anything
// else closes that connection and nothing more.
//
// Sending never blocks the Ready loop: each peer has a bounded queue; a
// message that does not fit is dropped and the peer reported unreachable,
// and raft retransmits what matters. The listener is meant for a trusted
// network, as Kafka's controller listener without authentication.

const (
	helloMagic   = "GRQT"
	helloVersion = 1
	helloBytes   = 21

	// maxMessageBytes bounds one message, a snapshot included: the largest
	// metadata image this node will send or accept.
	maxMessageBytes = 128 << 20
	// peerQueueMessages bounds each peer's send queue.
	peerQueueMessages = 1024
	// maxIncomingConns bounds accepted connections: members only, a few
	// hundred at most.
	maxIncomingConns = 1024

	dialTimeout    = 2 * time.Second
	helloTimeout   = 5 * time.Second
	minBackoff     = 20 * time.Millisecond
	maxBackoff     = 2 * time.Second
	writeTimeout   = 10 * time.Second
	writeBufferLen = 64 << 10
)

// reportKind is what a peer's writer tells the Ready loop.
type reportKind int

const (
	reportUnreachable reportKind = iota
	reportSnapshotFinish
	reportSnapshotFailure
)

type report struct {
	to   uint64
	kind reportKind
}

// outMessage is one marshalled message waiting in a peer's queue.
type outMessage struct {
	frame []byte // length prefix included
	snap  bool   // a MsgSnap: its outcome is reported
}

// transport owns the listener, the accepted connections and one peer per
// member it sends to.
type transport struct {
	self uint64
	log  *slog.Logger
	ln   net.Listener // nil: no listener (a one-voter cluster)

	// deliver hands an incoming message to the Ready loop; it must not
	// block.
	deliver func(*pb.Message)
	// report tells the Ready loop about unreachable peers and snapshots.
	report func(report)
	// isMember reports whether a Raft id may send to us.
	isMember func(uint64) bool
	// dialFn, if set, replaces net.Dialer (Config.Dial).
	dialFn func(ctx context.Context, network, addr string) (net.Conn, error)

	wg   sync.WaitGroup
	stop chan struct{}

	mu struct {
		sync.Mutex
		peers  map[uint64]*peer
		conns  map[net.Conn]struct{}
		closed bool
	}
}

func newTransport(self uint64, ln net.Listener, log *slog.Logger, deliver func(*pb.Message), rep func(report), isMember func(uint64) bool) *transport {
	t := &transport{self: self, ln: ln, log: log, deliver: deliver, report: rep, isMember: isMember, stop: make(chan struct{})}
	t.mu.peers = map[uint64]*peer{}
	t.mu.conns = map[net.Conn]struct{}{}
	if ln != nil {
		t.wg.Go(t.acceptLoop)
	}
	return t
}

// addr is the listener's address, nil without one.
func (t *transport) addr() net.Addr {
	if t.ln == nil {
		return nil
	}
	return t.ln.Addr()
}

// setPeers makes the set of peers (Raft id → address) match addresses,
// leaving out this node. A peer whose address changed is restarted.
func (t *transport) setPeers(addresses map[uint64]string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.closed {
		return
	}
	for id, p := range t.mu.peers {
		if addr, ok := addresses[id]; !ok || addr != p.addr {
			p.close()
			delete(t.mu.peers, id)
		}
	}
	for id, addr := range addresses {
		if id == t.self || addr == "" {
			continue
		}
		if _, ok := t.mu.peers[id]; !ok {
			p := &peer{t: t, id: id, addr: addr, queue: make(chan outMessage, peerQueueMessages), stop: make(chan struct{})}
			t.mu.peers[id] = p
			t.wg.Go(p.run)
		}
	}
}

// send marshals m and queues it for its peer. It must run on the Ready
// loop's goroutine: marshalling reads entries raft may share with later
// Readies. It returns false when the message was dropped (no such peer,
// too large, queue full); the caller tells raft, which retransmits.
func (t *transport) send(m *pb.Message) bool {
	t.mu.Lock()
	p := t.mu.peers[m.GetTo()]
	t.mu.Unlock()
	if p == nil {
		return false
	}
	size := proto.Size(m)
	if size > maxMessageBytes {
		t.log.Error("quorum: message too large to send", "to", nodeID(m.GetTo()), "type", m.GetType().String(), "bytes", size)
		return false
	}
	frame := make([]byte, 4, 4+size)
	binary.BigEndian.PutUint32(frame, uint32(size))
	frame, err := proto.MarshalOptions{}.MarshalAppend(frame, m)
	if err != nil {
		// Messages are built by raft; failing to marshal one is a bug.
		panic(fmt.Sprintf("quorum: marshal %v: %v", m.GetType(), err))
	}
	select {
	case p.queue <- outMessage{frame: frame, snap: m.GetType() == pb.MsgSnap}:
		return true
	default:
		return false
	}
}

func (t *transport) close() {
	t.mu.Lock()
	if t.mu.closed {
		t.mu.Unlock()
		return
	}
	t.mu.closed = true
	close(t.stop)
	if t.ln != nil {
		t.ln.Close()
	}
	for _, p := range t.mu.peers {
		p.close()
	}
	for c := range t.mu.conns {
		c.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
}

func (t *transport) acceptLoop() {
	backoff := minBackoff
	for {
		c, err := t.ln.Accept()
		if err != nil {
			select {
			case <-t.stop:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait, then retry.
			t.log.Warn("quorum: accept", "err", err)
			select {
			case <-t.stop:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = minBackoff
		t.mu.Lock()
		if t.mu.closed || len(t.mu.conns) >= maxIncomingConns {
			t.mu.Unlock()
			c.Close()
			continue
		}
		t.mu.conns[c] = struct{}{}
		t.mu.Unlock()
		t.wg.Go(func() {
			defer func() {
				t.mu.Lock()
				delete(t.mu.conns, c)
				t.mu.Unlock()
				c.Close()
			}()
			if err := t.serve(c); !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				t.log.Debug("quorum: closing incoming connection", "remote", c.RemoteAddr().String(), "err", err)
			}
		})
	}
}

// errBadPeer: a connection that broke the transport's rules.
var errBadPeer = errors.New("quorum: bad peer connection")

// serve reads one incoming connection until it ends or breaks a rule; it
// always returns why.
func (t *transport) serve(c net.Conn) error {
	c.SetReadDeadline(time.Now().Add(helloTimeout))
	var hello [helloBytes]byte
	if _, err := io.ReadFull(c, hello[:]); err != nil {
		return err
	}
	from, to, err := decodeHello(hello[:])
	if err != nil {
		return err
	}
	if to != t.self || !t.isMember(from) {
		return fmt.Errorf("%w: hello from %d to %d", errBadPeer, nodeID(from), nodeID(to))
	}
	c.SetReadDeadline(time.Time{})
	return readMessages(bufio.NewReaderSize(c, 64<<10), func(m *pb.Message) error {
		if err := checkIncoming(m, from, t.self); err != nil {
			return err
		}
		t.deliver(m)
		return nil
	})
}

func appendHello(dst []byte, from, to uint64) []byte {
	dst = append(dst, helloMagic...)
	dst = append(dst, helloVersion)
	dst = binary.BigEndian.AppendUint64(dst, from)
	return binary.BigEndian.AppendUint64(dst, to)
}

func decodeHello(b []byte) (from, to uint64, err error) {
	if len(b) != helloBytes || string(b[:4]) != helloMagic || b[4] != helloVersion {
		return 0, 0, fmt.Errorf("%w: bad hello", errBadPeer)
	}
	return binary.BigEndian.Uint64(b[5:]), binary.BigEndian.Uint64(b[13:]), nil
}

// readMessages reads frames until an error, handing each message to fn.
func readMessages(r io.Reader, fn func(*pb.Message) error) error {
	var head [4]byte
	for {
		if _, err := io.ReadFull(r, head[:]); err != nil {
			return err
		}
		n := binary.BigEndian.Uint32(head[:])
		if n > maxMessageBytes {
			return fmt.Errorf("%w: %d byte message", errBadPeer, n)
		}
		// A fresh buffer per message: the decoded message may keep it.
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return err
		}
		m := &pb.Message{}
		if err := proto.Unmarshal(buf, m); err != nil {
			return fmt.Errorf("%w: %w", errBadPeer, err)
		}
		if err := fn(m); err != nil {
			return err
		}
	}
}

// networkTypes are the message types that travel between nodes; the
// others are local to raft and must never come from the network.
var networkTypes = map[pb.MessageType]bool{
	pb.MsgApp: true, pb.MsgAppResp: true, pb.MsgVote: true, pb.MsgVoteResp: true,
	pb.MsgSnap: true, pb.MsgHeartbeat: true, pb.MsgHeartbeatResp: true,
	pb.MsgTimeoutNow: true, pb.MsgPreVote: true, pb.MsgPreVoteResp: true,
	pb.MsgTransferLeader: true, pb.MsgReadIndex: true, pb.MsgReadIndexResp: true,
}

// checkIncoming validates a message read from a connection whose hello
// named from.
func checkIncoming(m *pb.Message, from, self uint64) error {
	if m.GetFrom() != from || m.GetTo() != self {
		return fmt.Errorf("%w: message from %d to %d on the connection of %d", errBadPeer, m.GetFrom(), m.GetTo(), from)
	}
	if !networkTypes[m.GetType()] || raft.IsLocalMsg(m.GetType()) {
		return fmt.Errorf("%w: message type %v", errBadPeer, m.GetType())
	}
	if m.GetType() == pb.MsgSnap && m.GetSnapshot().GetMetadata() == nil {
		return fmt.Errorf("%w: snapshot without metadata", errBadPeer)
	}
	return nil
}

// peer sends queued messages to one member over one connection,
// reconnecting with backoff.
type peer struct {
	t     *transport
	id    uint64
	addr  string
	queue chan outMessage
	stop  chan struct{}
	once  sync.Once

	mu   sync.Mutex
	conn net.Conn // the current connection, closed by close
}

// close stops the peer, and closes its connection so that a write blocked
// on a stalled peer returns at once.
func (p *peer) close() {
	p.once.Do(func() {
		close(p.stop)
		p.mu.Lock()
		if p.conn != nil {
			p.conn.Close()
		}
		p.mu.Unlock()
	})
}

// setConn records the current connection; false if the peer is stopping.
func (p *peer) setConn(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.stop:
		return false
	default:
	}
	p.conn = c
	return true
}

func (p *peer) run() {
	backoff := minBackoff
	for {
		conn, err := p.dial()
		select {
		case <-p.stop:
			if conn != nil {
				conn.Close()
			}
			p.drop()
			return
		default:
		}
		if err != nil {
			// Whatever waits is stale by the time we connect: drop it, so
			// the queue has room and raft learns the peer is unreachable.
			p.drop()
			select {
			case <-p.stop:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = minBackoff
		if !p.setConn(conn) {
			conn.Close()
			p.drop()
			return
		}
		err = p.write(conn)
		conn.Close()
		select {
		case <-p.stop:
			p.drop()
			return
		default:
		}
		if err == nil {
			return
		}
		p.t.log.Debug("quorum: peer connection lost", "peer", nodeID(p.id), "addr", p.addr, "err", err)
		p.t.report(report{to: p.id, kind: reportUnreachable})
	}
}

func (p *peer) dial() (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	go func() {
		select {
		case <-p.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	dial := p.t.dialFn
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	conn, err := dial(ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := conn.Write(appendHello(nil, p.t.self, p.id)); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// drop empties the queue, reporting the peer unreachable and any snapshot
// in it failed.
func (p *peer) drop() {
	dropped := false
	for {
		select {
		case m := <-p.queue:
			dropped = true
			if m.snap {
				p.t.report(report{to: p.id, kind: reportSnapshotFailure})
			}
		default:
			if dropped {
				p.t.report(report{to: p.id, kind: reportUnreachable})
			}
			return
		}
	}
}

// write sends queued messages on conn until stopped (nil) or an error.
// It flushes whenever the queue is empty, so a burst goes out in few
// writes.
func (p *peer) write(conn net.Conn) error {
	w := bufio.NewWriterSize(conn, writeBufferLen)
	var snaps int // MsgSnaps written but not yet flushed
	for {
		var m outMessage
		select {
		case <-p.stop:
			return nil
		case m = <-p.queue:
		}
		// Large snapshots need time: allow a second per megabyte on top.
		conn.SetWriteDeadline(time.Now().Add(writeTimeout + time.Duration(len(m.frame)>>20)*time.Second))
		if m.snap {
			snaps++
		}
		if _, err := w.Write(m.frame); err != nil {
			p.failSnapshots(snaps)
			return err
		}
		if len(p.queue) == 0 {
			if err := w.Flush(); err != nil {
				p.failSnapshots(snaps)
				return err
			}
			for ; snaps > 0; snaps-- {
				p.t.report(report{to: p.id, kind: reportSnapshotFinish})
			}
		}
	}
}

func (p *peer) failSnapshots(n int) {
	for range n {
		p.t.report(report{to: p.id, kind: reportSnapshotFailure})
	}
}
