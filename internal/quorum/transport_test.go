package quorum

import (
	"encoding/binary"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// transportPair is a transport for Raft id 1 accepting members 1 and 2,
// recording what it delivers and reports.
type transportPair struct {
	tr        *transport
	delivered chan *pb.Message
	mu        sync.Mutex
	reports   []report
}

func newTestTransport(t *testing.T, self uint64, members ...uint64) *transportPair {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tp := &transportPair{delivered: make(chan *pb.Message, 100)}
	known := map[uint64]bool{}
	for _, m := range members {
		known[m] = true
	}
	tp.tr = newTransport(self, ln, testLogger(t),
		func(m *pb.Message) { tp.delivered <- m },
		func(r report) { tp.mu.Lock(); tp.reports = append(tp.reports, r); tp.mu.Unlock() },
		func(id uint64) bool { return known[id] })
	t.Cleanup(tp.tr.close)
	return tp
}

func heartbeat(from, to uint64) *pb.Message {
	return &pb.Message{Type: pb.MsgHeartbeat.Enum(), From: new(from), To: new(to), Term: new(uint64(1))}
}

func TestTransportDelivers(t *testing.T) {
	a := newTestTransport(t, 1, 1, 2)
	b := newTestTransport(t, 2, 1, 2)
	a.tr.setPeers(map[uint64]string{1: a.tr.addr().String(), 2: b.tr.addr().String()})
	for i := range 10 {
		m := heartbeat(1, 2)
		m.Commit = new(uint64(i))
		a.tr.send(m)
	}
	for i := range 10 {
		select {
		case m := <-b.delivered:
			if m.GetFrom() != 1 || m.GetCommit() != uint64(i) {
				t.Fatalf("message %d: %v", i, m)
			}
		case <-time.After(waitTimeout):
			t.Fatal("message not delivered")
		}
	}
	// A message to a peer without an address is dropped.
	if a.tr.send(heartbeat(1, 3)) {
		t.Fatal("sent to an unknown peer")
	}
}

// TestTransportRejectsBadConnections: each broken rule closes that
// connection, and the transport keeps serving others.
func TestTransportRejectsBadConnections(t *testing.T) {
	b := newTestTransport(t, 2, 1, 2)
	frame := func(m *pb.Message) []byte {
		p, _ := proto.Marshal(m)
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(p))), p...)
	}
	hello := appendHello(nil, 1, 2)
	tests := map[string][]byte{
		"bad magic":          append([]byte("XXXX"), hello[4:]...),
		"unknown member":     appendHello(nil, 9, 2),
		"hello to another":   appendHello(nil, 1, 3),
		"oversized frame":    slices.Concat(hello, []byte{0xff, 0xff, 0xff, 0xff}),
		"garbage message":    slices.Concat(hello, []byte{0, 0, 0, 3, 0xff, 0xff, 0xff}),
		"spoofed sender":     slices.Concat(hello, frame(heartbeat(3, 2))),
		"to someone else":    slices.Concat(hello, frame(heartbeat(1, 5))),
		"local message type": slices.Concat(hello, frame(&pb.Message{Type: pb.MsgHup.Enum(), From: new(uint64(1)), To: new(uint64(2))})),
	}
	for name, bytes := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("tcp", b.tr.addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write(bytes); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(waitTimeout))
			if _, err := c.Read(make([]byte, 1)); err != io.EOF {
				t.Fatalf("connection not closed: %v", err)
			}
			select {
			case m := <-b.delivered:
				t.Fatalf("delivered %v", m)
			default:
			}
		})
	}
	// A good connection still works.
	c, err := net.Dial("tcp", b.tr.addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(slices.Concat(hello, frame(heartbeat(1, 2)))); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.delivered:
	case <-time.After(waitTimeout):
		t.Fatal("good message not delivered")
	}
}

// TestTransportQueueIsBounded: with the peer unreachable, sends beyond the
// queue are dropped and reported, and a queued snapshot is reported
// failed when it is dropped.
func TestTransportQueueIsBounded(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // nothing listens there now
	a := newTestTransport(t, 1, 1, 2)
	a.tr.setPeers(map[uint64]string{2: dead})
	a.tr.send(&pb.Message{Type: pb.MsgSnap.Enum(), From: new(uint64(1)), To: new(uint64(2)),
		Snapshot: snapshotSeed()})
	dropped := 0
	for range 4 * peerQueueMessages {
		if !a.tr.send(heartbeat(1, 2)) {
			dropped++
		}
	}
	if dropped == 0 {
		t.Fatal("an unreachable peer's queue took every message")
	}
	eventually(t, "a snapshot failure report", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		for _, r := range a.reports {
			if r.kind == reportSnapshotFailure {
				return true
			}
		}
		return false
	})
}
