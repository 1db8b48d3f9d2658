package broker

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/quorum"
)

func TestJoinCodecRoundTrip(t *testing.T) {
	for _, r := range []joinRequest{
		{NodeID: 0, Addr: "127.0.0.1:9093"},
		{NodeID: 7, Addr: ":9093"},
		{NodeID: 1<<31 - 1, Addr: "[::1]:65535"},
		{NodeID: 4, Addr: "broker-4.example:1"},
	} {
		got, err := readJoinRequest(bytes.NewReader(r.append(nil)))
		if err != nil || got != r {
			t.Errorf("request %+v: read back %+v, %v", r, got, err)
		}
	}
	for _, a := range []joinAnswer{
		{Code: joinAdded, Leader: 1, Message: "added"},
		{Code: joinNotLeader, Leader: -1},
		{Code: joinRefused, Leader: 3, Message: "node 3 is a voter"},
		{Code: joinFailed, Leader: 0, Message: "timeout"},
	} {
		got, err := readJoinAnswer(bytes.NewReader(a.append(nil)))
		if err != nil || got != a {
			t.Errorf("answer %+v: read back %+v, %v", a, got, err)
		}
	}
	long := joinAnswer{Code: joinFailed, Leader: -1, Message: string(bytes.Repeat([]byte("x"), 2*maxJoinMessageBytes))}
	if got, err := readJoinAnswer(bytes.NewReader(long.append(nil))); err != nil || len(got.Message) != maxJoinMessageBytes {
		t.Errorf("a long message: %d bytes, %v; want it cut to %d", len(got.Message), err, maxJoinMessageBytes)
	}
}

func TestJoinRequestRefusals(t *testing.T) {
	valid := joinRequest{NodeID: 4, Addr: "127.0.0.1:9093"}.append(nil)
	mutate := func(f func(b []byte) []byte) []byte { return f(slices.Clone(valid)) }
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"short header", valid[:7]},
		{"bad magic", mutate(func(b []byte) []byte { b[0] = 'X'; return b })},
		{"raft hello", append([]byte("GRQT"), valid[4:]...)},
		{"bad version", mutate(func(b []byte) []byte { b[4] = 2; return b })},
		{"negative id", mutate(func(b []byte) []byte { b[5] = 0x80; return b })},
		{"empty address", joinRequest{NodeID: 4}.append(nil)},
		{"address too long", joinRequest{NodeID: 4, Addr: string(bytes.Repeat([]byte("a"), maxJoinAddressBytes)) + ":1"}.append(nil)},
		{"truncated address", valid[:len(valid)-1]},
		{"no port", joinRequest{NodeID: 4, Addr: "127.0.0.1"}.append(nil)},
		{"port 0", joinRequest{NodeID: 4, Addr: "127.0.0.1:0"}.append(nil)},
		{"port too large", joinRequest{NodeID: 4, Addr: "127.0.0.1:65536"}.append(nil)},
	} {
		if r, err := readJoinRequest(bytes.NewReader(tc.in)); err == nil {
			t.Errorf("%s: read %+v", tc.name, r)
		}
	}
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"bad version", []byte{9, 0, 0, 0, 0, 1, 0, 0}},
		{"unknown code", []byte{1, 4, 0, 0, 0, 1, 0, 0}},
		{"leader below -1", []byte{1, 1, 0xff, 0xff, 0xff, 0xfe, 0, 0}},
		{"message too long", []byte{1, 1, 0, 0, 0, 1, 0xff, 0xff}},
		{"truncated message", []byte{1, 1, 0, 0, 0, 1, 0, 5, 'a'}},
	} {
		if a, err := readJoinAnswer(bytes.NewReader(tc.in)); err == nil {
			t.Errorf("answer %s: read %+v", tc.name, a)
		}
	}
}

// Join requests come from the network: no input panics the reader, and
// whatever it accepts is within bounds and encodes back to itself.
func FuzzReadJoinRequest(f *testing.F) {
	f.Add(joinRequest{NodeID: 4, Addr: "127.0.0.1:9093"}.append(nil))
	f.Add(joinRequest{NodeID: 0, Addr: ":1"}.append(nil))
	f.Add([]byte("GRQT\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x02"))
	f.Add([]byte("GRQJ\x01\xff\xff\xff\xff\x00\x01a"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := readJoinRequest(bytes.NewReader(in))
		if err != nil {
			return
		}
		if r.NodeID < 0 || len(r.Addr) == 0 || len(r.Addr) > maxJoinAddressBytes || checkJoinAddr(r.Addr) != nil {
			t.Fatalf("accepted %+v", r)
		}
		if again, err := readJoinRequest(bytes.NewReader(r.append(nil))); err != nil || again != r {
			t.Fatalf("%+v read back as %+v, %v", r, again, err)
		}
	})
}

// Join answers come from the network too.
func FuzzReadJoinAnswer(f *testing.F) {
	f.Add(joinAnswer{Code: joinAdded, Leader: 1, Message: "added"}.append(nil))
	f.Add(joinAnswer{Code: joinNotLeader, Leader: -1}.append(nil))
	f.Add([]byte{1, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		a, err := readJoinAnswer(bytes.NewReader(in))
		if err != nil {
			return
		}
		if a.Code > joinFailed || a.Leader < -1 || len(a.Message) > maxJoinMessageBytes {
			t.Fatalf("accepted %+v", a)
		}
		if again, err := readJoinAnswer(bytes.NewReader(a.append(nil))); err != nil || again != a {
			t.Fatalf("%+v read back as %+v, %v", a, again, err)
		}
	})
}

func TestCompleteJoinAddr(t *testing.T) {
	for _, tc := range []struct{ addr, remote, want string }{
		{"127.0.0.1:9093", "10.0.0.2", "127.0.0.1:9093"},
		{"broker-4:9093", "10.0.0.2", "broker-4:9093"},
		{":9093", "10.0.0.2", "10.0.0.2:9093"},
		{"0.0.0.0:9093", "10.0.0.2", "10.0.0.2:9093"},
		{"[::]:9093", "fe80::1", "[fe80::1]:9093"},
		{":9093", "", ":9093"},
	} {
		if got := completeJoinAddr(tc.addr, tc.remote); got != tc.want {
			t.Errorf("completeJoinAddr(%q, %q) = %q, want %q", tc.addr, tc.remote, got, tc.want)
		}
	}
}

func TestIsJoined(t *testing.T) {
	learner := func(addr string) quorum.Status {
		return quorum.Status{Learner: true, Members: map[int32]string{4: addr}}
	}
	for _, tc := range []struct {
		name string
		st   quorum.Status
		addr string
		want bool
	}{
		{"not yet a member", quorum.Status{Members: map[int32]string{1: "a:1"}}, "127.0.0.1:9093", false},
		{"a learner at its address", learner("127.0.0.1:9093"), "127.0.0.1:9093", true},
		{"a learner at an old address", learner("127.0.0.1:9000"), "127.0.0.1:9093", false},
		{"host filled in by the leader", learner("10.0.0.4:9093"), "[::]:9093", true},
		{"host filled in, another port", learner("10.0.0.4:9000"), "[::]:9093", false},
		{"named host moved", learner("10.0.0.4:9093"), "broker-4:9093", false},
	} {
		if got := isJoined(tc.st, 4, tc.addr); got != tc.want {
			t.Errorf("%s: isJoined = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// ask sends one join request to addr and reads the answer.
func ask(t *testing.T, addr string, req joinRequest) (joinAnswer, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write(req.append(nil)); err != nil {
		t.Fatal(err)
	}
	return readJoinAnswer(c)
}

func listenLoopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// The mux hands other traffic to Accept with its first bytes intact,
// answers joins itself, and drops malformed joins without an answer.
func TestRaftMuxSortsConnections(t *testing.T) {
	m := newRaftMux(listenLoopback(t), slog.New(slog.DiscardHandler))
	defer m.Close()
	addr := m.Addr().String()

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GRQT and the rest")); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	got, err := m.Accept()
	if err != nil {
		t.Fatal(err)
	}
	got.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(got); err != nil || string(b) != "GRQT and the rest" {
		t.Fatalf("passed through %q, %v", b, err)
	}
	got.Close()

	// No quorum yet: "not the leader", no leader known.
	if a, err := ask(t, addr, joinRequest{NodeID: 4, Addr: "127.0.0.1:1"}); err != nil || a.Code != joinNotLeader || a.Leader != -1 {
		t.Fatalf("join before the quorum opened: %+v, %v", a, err)
	}

	bad, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	bad.Write([]byte("GRQJ\x09 not a join"))
	bad.SetReadDeadline(time.Now().Add(10 * time.Second))
	// Closed unanswered: EOF, or a reset for the bytes left unread.
	if b, _ := io.ReadAll(bad); len(b) != 0 {
		t.Fatalf("a malformed join got an answer %q", b)
	}

	m.Close()
	if _, err := m.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
}

// On a quorum's leader a join adds a learner (its host filled in when
// unspecified) and a second one changes nothing; a voter's id is refused.
func TestRaftMuxAddsLearners(t *testing.T) {
	m := newRaftMux(listenLoopback(t), slog.New(slog.DiscardHandler))
	addr := m.Addr().String()
	node, err := quorum.Open(quorum.Config{NodeID: 0, Voters: map[int32]string{0: addr}, Listener: m,
		Dir: t.TempDir(), TickInterval: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	defer node.Close()
	m.node.Store(node)

	if a, err := ask(t, addr, joinRequest{NodeID: 0, Addr: "127.0.0.1:1"}); err != nil || a.Code != joinRefused {
		t.Fatalf("joining as the voter: %+v, %v", a, err)
	}
	for range 2 {
		if a, err := ask(t, addr, joinRequest{NodeID: 7, Addr: ":4567"}); err != nil || a.Code != joinAdded || a.Leader != 0 {
			t.Fatalf("joining as node 7: %+v, %v", a, err)
		}
	}
	st := node.Status()
	if !slices.Equal(st.Learners, []int32{7}) || st.Members[7] != "127.0.0.1:4567" || !slices.Equal(st.Voters, []int32{0}) {
		t.Fatalf("after the join: learners %v, members %v, voters %v", st.Learners, st.Members, st.Voters)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if a := answerJoin(ctx, node, joinRequest{NodeID: 0, Addr: "127.0.0.1:1"}, "127.0.0.1"); a.Code != joinRefused {
		t.Fatalf("a voter may not be demoted: %+v", a)
	}
}
