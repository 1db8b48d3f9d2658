package broker

// The join exchange on the Raft port and the listener that tells it apart
// from Raft traffic; the format and the policy are described in
// cluster_learner.go.

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
	// joinWarnInterval is how often a broker still not joined says so.
	joinWarnInterval = 30 * time.Second
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
