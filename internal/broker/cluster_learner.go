package broker

// Learners: brokers beyond the controller voters, and adding a broker to a
// running cluster (issue #5).
//
// Roles. controller.quorum.voters names at most five voters, the
// controllers. Any other node (its node.id not in the list, the same list
// on every node) opens its quorum.Node as a Raft learner: it receives the
// metadata log and applies it like every node, but never votes and never
// campaigns, so it is never the active controller. Metadata's and
// DescribeCluster's ControllerID stay the Raft leader, always a voter.
// Everything else about a learner is an ordinary broker: it registers
// (BrokerRegistration, API 62), heartbeats, is unfenced once caught up,
// is listed by Metadata and DescribeCluster, and is eligible for the
// replicas of new topics and for reassignment.
//
// Joining. A learner with an empty Raft directory starts from the same
// bootstrap snapshot as every node (the configured voters, index 1) and
// waits: nobody sends it anything until the active controller adds it to
// the Raft configuration (quorum.Node.AddLearner with its transport
// address; the conf change carries the address to every node through the
// log). It cannot send BrokerRegistration first: it knows no controller
// and no broker's Kafka address, only the voters' Raft addresses. So it
// asks over the Raft port. Every node's controller.listener also accepts
// a join exchange, told apart from Raft traffic by its first four bytes
// (raftMux below; quorum's own connections start "GRQT"):
//
//	request  offset size field
//	              0    4 magic "GRQJ"
//	              4    1 version (1)
//	              5    4 the joiner's node id (int32, big endian, >= 0)
//	              9    2 address length n (big endian, 1..512)
//	             11    n the joiner's Raft address, host:port
//	answer        0    1 version (1)
//	              1    1 code: 0 added, 1 not the leader, 2 refused, 3 failed
//	              2    4 the leader's node id as this voter knows it (-1: none)
//	              6    2 message length n (at most 512)
//	              8    n why, for the joiner's log
//
// The joiner (runJoin) asks the voters in turn, following the leader hint
// of a "not the leader" answer, until its own Raft state shows it a learner
// at its address; then it stops. The leader answers "added" once the conf
// change is committed and applied. An address whose host is empty or
// unspecified (0.0.0.0, ::) is completed with the host the request came
// from, so controller.listener=:9093 works on a learner.
//
// Why this and not a bootstrap list of Kafka addresses (KIP-853's
// controller.quorum.bootstrap.servers): a new broker needs exactly the
// configuration every node already has (node.id, controller.listener and
// the voters), and joining needs no Kafka listener, no metadata and no
// client. The exchange lives in the broker, not in internal/quorum,
// because it is the broker's policy (who may join) and the transport
// needs no change: the broker binds the Raft listener and hands quorum a
// listener that yields only Raft connections.
//
// Trust and bounds. Like Kafka's controller listener over PLAINTEXT, the
// Raft port is meant for a trusted network; a join is not authenticated.
// The leader refuses a voter's id (a voter is never demoted; quorum
// refuses it too), a new learner beyond maxLearners, and anything
// malformed; addresses are at most 512 bytes; at most maxSortingConns
// connections are being read or answered at once, each under a deadline.
// Re-adding a learner with the same address changes nothing; with another
// address it moves the learner (a broker that came back with a new
// controller.listener).
//
// Restart. A learner's Raft state (WAL, snapshots) is on disk under the
// metadata directory; at restart its own configuration already shows it a
// learner, so it joins nothing and simply follows the leader again.
//
// Removing. Not done: a learner that is gone for good stays a Raft member
// (the leader keeps probing it, which costs a dropped message per
// heartbeat) and its broker registration is fenced after
// broker.session.timeout.ms. Gregor has no UnregisterBroker yet to tie
// quorum.Node.RemoveNode to.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gregor-log/gregor/internal/quorum"
)

const (
	joinMagic   = "GRQJ"
	joinVersion = 1
	// joinRequestHeaderBytes is magic, version, node id, address length.
	joinRequestHeaderBytes = 11
	joinAnswerHeaderBytes  = 8
	// maxJoinAddressBytes bounds a joiner's address (a DNS name is at
	// most 253 bytes) and maxJoinMessageBytes an answer's message.
	maxJoinAddressBytes = 512
	maxJoinMessageBytes = 512
	// maxLearners bounds the Raft learners a leader adds on request: each
	// is a peer every voter sends the log to.
	maxLearners = 256
	// maxSortingConns bounds the Raft-port connections whose first bytes
	// are being read, or whose join is being answered.
	maxSortingConns = 256
	// joinReadTimeout bounds reading a connection's first bytes and a
	// join request; joinAnswerTimeout bounds answering one (the conf
	// change must commit).
	joinReadTimeout   = 5 * time.Second
	joinAnswerTimeout = 10 * time.Second
	// joinDialTimeout bounds connecting to a voter.
	joinDialTimeout = 2 * time.Second
	// joinMinBackoff and joinMaxBackoff bound the joiner's waits.
	joinMinBackoff = 100 * time.Millisecond
	joinMaxBackoff = 2 * time.Second
)

// joinCode is a join answer's outcome.
type joinCode byte

const (
	joinAdded     joinCode = 0 // committed: the joiner is a learner
	joinNotLeader joinCode = 1 // ask the leader (Leader, when >= 0)
	joinRefused   joinCode = 2 // this request will not be accepted
	joinFailed    joinCode = 3 // try again later
)

func (c joinCode) String() string {
	switch c {
	case joinAdded:
		return "added"
	case joinNotLeader:
		return "not the leader"
	case joinRefused:
		return "refused"
	case joinFailed:
		return "failed"
	}
	return "code " + strconv.Itoa(int(c))
}

// errBadJoin: join bytes that break the format.
var errBadJoin = errors.New("broker: bad join message")

// joinRequest asks the active controller to add NodeID, reachable at
// Addr, as a Raft learner.
type joinRequest struct {
	NodeID int32
	Addr   string
}

func (r joinRequest) append(dst []byte) []byte {
	dst = append(dst, joinMagic...)
	dst = append(dst, joinVersion)
	dst = binary.BigEndian.AppendUint32(dst, uint32(r.NodeID))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(r.Addr)))
	return append(dst, r.Addr...)
}

// readJoinRequest reads and checks one join request, magic included.
func readJoinRequest(r io.Reader) (joinRequest, error) {
	var h [joinRequestHeaderBytes]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return joinRequest{}, err
	}
	if string(h[:4]) != joinMagic || h[4] != joinVersion {
		return joinRequest{}, fmt.Errorf("%w: magic %q version %d", errBadJoin, h[:4], h[4])
	}
	id := int32(binary.BigEndian.Uint32(h[5:]))
	n := int(binary.BigEndian.Uint16(h[9:]))
	if id < 0 || n == 0 || n > maxJoinAddressBytes {
		return joinRequest{}, fmt.Errorf("%w: node %d, address of %d bytes", errBadJoin, id, n)
	}
	addr := make([]byte, n)
	if _, err := io.ReadFull(r, addr); err != nil {
		return joinRequest{}, err
	}
	if err := checkJoinAddr(string(addr)); err != nil {
		return joinRequest{}, err
	}
	return joinRequest{NodeID: id, Addr: string(addr)}, nil
}

// checkJoinAddr accepts host:port with a port in 1..65535 (the host may
// be empty: the leader completes it).
func checkJoinAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w: address %q: %v", errBadJoin, addr, err)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return fmt.Errorf("%w: address %q: bad port", errBadJoin, addr)
	}
	return nil
}

// joinAnswer is the answer to a joinRequest.
type joinAnswer struct {
	Code    joinCode
	Leader  int32
	Message string
}

func (a joinAnswer) append(dst []byte) []byte {
	msg := a.Message
	if len(msg) > maxJoinMessageBytes {
		msg = msg[:maxJoinMessageBytes]
	}
	dst = append(dst, joinVersion, byte(a.Code))
	dst = binary.BigEndian.AppendUint32(dst, uint32(a.Leader))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(msg)))
	return append(dst, msg...)
}

// readJoinAnswer reads and checks one join answer.
func readJoinAnswer(r io.Reader) (joinAnswer, error) {
	var h [joinAnswerHeaderBytes]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return joinAnswer{}, err
	}
	code, leader, n := joinCode(h[1]), int32(binary.BigEndian.Uint32(h[2:])), int(binary.BigEndian.Uint16(h[6:]))
	if h[0] != joinVersion || code > joinFailed || leader < -1 || n > maxJoinMessageBytes {
		return joinAnswer{}, fmt.Errorf("%w: answer version %d code %d leader %d message of %d bytes", errBadJoin, h[0], code, leader, n)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(r, msg); err != nil {
		return joinAnswer{}, err
	}
	return joinAnswer{Code: code, Leader: leader, Message: string(msg)}, nil
}

// answerJoin decides a join request on this node: only the Raft leader
// adds learners, never a voter's id, and at most maxLearners of them.
// remoteHost completes an address without a usable host.
func answerJoin(ctx context.Context, node *quorum.Node, req joinRequest, remoteHost string) joinAnswer {
	if node == nil {
		return joinAnswer{Code: joinNotLeader, Leader: -1, Message: "the quorum is still opening"}
	}
	st := node.Status()
	if st.Err != nil {
		return joinAnswer{Code: joinFailed, Leader: -1, Message: st.Err.Error()}
	}
	if st.Leader != node.NodeID() {
		return joinAnswer{Code: joinNotLeader, Leader: st.Leader, Message: "not the active controller"}
	}
	if slices.Contains(st.Voters, req.NodeID) {
		return joinAnswer{Code: joinRefused, Leader: st.Leader, Message: fmt.Sprintf("node %d is a voter", req.NodeID)}
	}
	if !slices.Contains(st.Learners, req.NodeID) && len(st.Learners) >= maxLearners {
		return joinAnswer{Code: joinRefused, Leader: st.Leader, Message: fmt.Sprintf("the quorum has %d learners, the most it takes", len(st.Learners))}
	}
	addr := completeJoinAddr(req.Addr, remoteHost)
	err := node.AddLearner(ctx, req.NodeID, addr)
	var nl *quorum.NotLeaderError
	switch {
	case err == nil:
		return joinAnswer{Code: joinAdded, Leader: st.Leader, Message: "added as a learner at " + addr}
	case errors.As(err, &nl):
		return joinAnswer{Code: joinNotLeader, Leader: nl.Leader, Message: err.Error()}
	case errors.Is(err, quorum.ErrConfig):
		return joinAnswer{Code: joinRefused, Leader: st.Leader, Message: err.Error()}
	default:
		return joinAnswer{Code: joinFailed, Leader: st.Leader, Message: err.Error()}
	}
}

// completeJoinAddr replaces an empty or unspecified host in addr by
// remoteHost, the host the request came from.
func completeJoinAddr(addr, remoteHost string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || remoteHost == "" {
		return addr
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return addr
	}
	return net.JoinHostPort(remoteHost, port)
}

// raftMux is the listener the quorum's transport accepts from: it owns
// the bound controller.listener, reads the first four bytes of each
// connection, answers joins itself, and hands every other connection
// (those bytes replayed) to Accept.
type raftMux struct {
	ln     net.Listener
	node   atomic.Pointer[quorum.Node] // set once the quorum is open
	conns  chan net.Conn
	done   chan struct{}
	ctx    context.Context // cancelled by Close: ends joins being answered
	cancel context.CancelFunc
	slots  chan struct{} // one per connection being sorted or answered
	log    *slog.Logger
	wg     sync.WaitGroup
	once   sync.Once

	mu struct {
		sync.Mutex
		sorting map[net.Conn]struct{} // closed by Close
		err     error                 // why accepting stopped
	}
}

// listenController binds controller.listener for the quorum's transport,
// behind a raftMux that answers joins.
func (b *Broker) listenController() (*raftMux, error) {
	ln, err := net.Listen("tcp", b.cfg.ControllerListener)
	if err != nil {
		return nil, fmt.Errorf("broker: controller.listener: %w", err)
	}
	return newRaftMux(ln, b.log.With("component", "raft-join")), nil
}

// newRaftMux starts sorting ln's connections; Close closes ln.
func newRaftMux(ln net.Listener, log *slog.Logger) *raftMux {
	m := &raftMux{ln: ln, conns: make(chan net.Conn), done: make(chan struct{}),
		slots: make(chan struct{}, maxSortingConns), log: log}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.mu.sorting = map[net.Conn]struct{}{}
	m.wg.Go(m.acceptLoop)
	return m
}

// Accept returns the next Raft connection; net.ErrClosed once closed.
func (m *raftMux) Accept() (net.Conn, error) {
	select {
	case c := <-m.conns:
		return c, nil
	case <-m.done:
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.mu.err != nil {
			return nil, m.mu.err
		}
		return nil, net.ErrClosed
	}
}

// Addr is the bound address.
func (m *raftMux) Addr() net.Addr { return m.ln.Addr() }

// Close stops accepting, closes the connections being sorted and waits
// for every goroutine of the mux.
func (m *raftMux) Close() error {
	var err error
	m.once.Do(func() {
		m.cancel()
		err = m.ln.Close()
		// done first: acceptLoop checks it under mu before adding to
		// sorting, so nothing is added after the loop below.
		m.stop(nil)
		m.mu.Lock()
		for c := range m.mu.sorting {
			c.Close()
		}
		m.mu.Unlock()
		m.wg.Wait()
	})
	return err
}

// stop closes done once, recording why accepting ended.
func (m *raftMux) stop(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	select {
	case <-m.done:
	default:
		m.mu.err = err
		close(m.done)
	}
}

func (m *raftMux) acceptLoop() {
	backoff := joinMinBackoff
	for {
		c, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.done:
				return
			default:
			}
			var ne net.Error
			if errors.Is(err, net.ErrClosed) || !errors.As(err, &ne) {
				m.stop(err)
				return
			}
			// Out of file descriptors and the like: wait, then retry.
			m.log.Warn("raft listener: accept", "err", err)
			select {
			case <-m.done:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, joinMaxBackoff)
			continue
		}
		backoff = joinMinBackoff
		select {
		case m.slots <- struct{}{}:
		default:
			c.Close() // too many at once: the peer redials
			continue
		}
		m.mu.Lock()
		select {
		case <-m.done:
			m.mu.Unlock()
			c.Close()
			<-m.slots
			return
		default:
		}
		m.mu.sorting[c] = struct{}{}
		m.mu.Unlock()
		m.wg.Go(func() {
			defer func() { <-m.slots }()
			m.sort(c)
		})
	}
}

// sort reads c's first bytes: a join is answered here, anything else goes
// to the quorum's transport (which checks its own hello).
func (m *raftMux) sort(c net.Conn) {
	handedOver := false
	defer func() {
		m.mu.Lock()
		delete(m.mu.sorting, c)
		m.mu.Unlock()
		if !handedOver {
			c.Close()
		}
	}()
	c.SetReadDeadline(time.Now().Add(joinReadTimeout))
	var head [len(joinMagic)]byte
	if _, err := io.ReadFull(c, head[:]); err != nil {
		return
	}
	if string(head[:]) == joinMagic {
		m.answer(c, head[:])
		return
	}
	c.SetReadDeadline(time.Time{})
	select {
	case m.conns <- &prefixConn{Conn: c, prefix: slices.Clone(head[:])}:
		handedOver = true
	case <-m.done:
	}
}

// answer reads one join request from c (its magic already read) and
// writes the answer.
func (m *raftMux) answer(c net.Conn, magic []byte) {
	req, err := readJoinRequest(io.MultiReader(bytes.NewReader(magic), c))
	if err != nil {
		m.log.Debug("raft listener: bad join request", "remote", c.RemoteAddr().String(), "err", err)
		return
	}
	remoteHost, _, _ := net.SplitHostPort(c.RemoteAddr().String())
	ctx, cancel := context.WithTimeout(m.ctx, joinAnswerTimeout)
	defer cancel()
	ans := answerJoin(ctx, m.node.Load(), req, remoteHost)
	if ans.Code == joinAdded {
		m.log.Info("a broker joined the metadata quorum as a learner", "joiner", req.NodeID, "detail", ans.Message)
	} else {
		m.log.Debug("join request not accepted", "joiner", req.NodeID, "code", ans.Code.String(), "detail", ans.Message)
	}
	c.SetWriteDeadline(time.Now().Add(joinReadTimeout))
	c.Write(ans.append(nil))
}

// prefixConn replays bytes already read before reading the connection.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// startJoining, on a learner, starts asking the voters to add it to the
// quorum (runJoin); a voter needs nothing.
func (b *Broker) startJoining(mux *raftMux) {
	voters, err := b.cfg.Voters()
	if err != nil {
		return // Validate already refused it
	}
	if _, voter := voters[b.nodeID()]; voter {
		return
	}
	b.background.Go(func() { b.runJoin(b.stop, mux.Addr().String(), voters) })
}

// runJoin asks the voters, one after another and the leader first when
// known, to add this node as a learner at addr, until its own Raft
// configuration shows it one (at once after a restart).
func (b *Broker) runJoin(stop <-chan struct{}, addr string, voters map[int32]string) {
	node := b.cluster.quorum
	ids := slices.Sorted(func(yield func(int32) bool) {
		for id := range voters {
			if !yield(id) {
				return
			}
		}
	})
	req := joinRequest{NodeID: b.nodeID(), Addr: addr}
	next, backoff := 0, joinMinBackoff
	for {
		if isJoined(node.Status(), b.nodeID(), addr) {
			b.log.Info("this broker is a learner of the metadata quorum", "raft_addr", addr)
			return
		}
		target := ids[next%len(ids)]
		if l := node.Leader(); l >= 0 && voters[l] != "" {
			target = l
		}
		ctx, cancel := context.WithTimeout(context.Background(), joinDialTimeout+joinAnswerTimeout)
		ans, err := b.askToJoin(ctx, voters[target], req)
		cancel()
		switch {
		case err != nil:
			b.log.Debug("asking to join the metadata quorum", "voter", target, "err", err)
			next++
		case ans.Code == joinAdded:
			backoff = joinMinBackoff
		case ans.Code == joinNotLeader && ans.Leader >= 0 && voters[ans.Leader] != "" && ans.Leader != target:
			next = slices.Index(ids, ans.Leader)
			backoff = joinMinBackoff
			continue // straight to the leader
		case ans.Code == joinRefused:
			b.log.Warn("the controller refused to add this broker to the metadata quorum", "voter", target, "reason", ans.Message)
			next++
		default:
			next++
		}
		select {
		case <-stop:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, joinMaxBackoff)
	}
}

// isJoined reports whether st shows node self a learner at addr (at its
// port when addr's host is unspecified: the leader filled the host in).
func isJoined(st quorum.Status, self int32, addr string) bool {
	if !st.Learner {
		return false
	}
	got := st.Members[self]
	if got == addr {
		return true
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || (host != "" && !net.ParseIP(host).IsUnspecified()) {
		return false
	}
	_, gotPort, err := net.SplitHostPort(got)
	return err == nil && gotPort == port
}

// askToJoin sends one join request to the voter at addr and reads its
// answer.
func (b *Broker) askToJoin(ctx context.Context, addr string, req joinRequest) (joinAnswer, error) {
	dctx, cancel := context.WithTimeout(ctx, joinDialTimeout)
	defer cancel()
	dial := (&net.Dialer{}).DialContext
	if b.dial != nil {
		dial = b.dial
	}
	c, err := dial(dctx, "tcp", addr)
	if err != nil {
		return joinAnswer{}, err
	}
	defer c.Close()
	if deadline, ok := ctx.Deadline(); ok {
		c.SetDeadline(deadline)
	}
	if _, err := c.Write(req.append(nil)); err != nil {
		return joinAnswer{}, err
	}
	return readJoinAnswer(c)
}

// QuorumStatus is this broker's view of the metadata quorum (its role,
// the voters and learners, the leader); false on a single node.
func (b *Broker) QuorumStatus() (quorum.Status, bool) {
	if !b.clustered() {
		return quorum.Status{}, false
	}
	return b.cluster.quorum.Status(), true
}
