package broker_test

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/testbroker"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Raw-socket checks against the whole broker: what a misbehaving client
// does to one connection never reaches the others.

func rawControlRequest(t *testing.T, c net.Conn, req kmsg.Request, corr int32) []byte {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(kmsg.NewRequestFormatter().AppendRequest(nil, req, corr)); err != nil {
		t.Fatal(err)
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		t.Fatalf("reading response: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatal(err)
	}
	if got := int32(binary.BigEndian.Uint32(body)); got != corr {
		t.Fatalf("correlation id %d, want %d", got, corr)
	}
	return body[4:]
}

func expectConnClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("connection not closed")
	}
}

func TestRawSocket(t *testing.T) {
	b := testbroker.Start(t, map[string]string{"socket.request.max.bytes": "1000"})
	good := b.Dial(t)
	metadata := kmsg.NewPtrMetadataRequest()
	metadata.SetVersion(4)
	rawControlRequest(t, good, metadata, 1)

	// A frame above socket.request.max.bytes.
	big := b.Dial(t)
	big.Write(binary.BigEndian.AppendUint32(nil, 1001))
	expectConnClosed(t, big)
	rawControlRequest(t, good, metadata, 2)

	// An unknown API key.
	unknown := b.Dial(t)
	unknown.Write([]byte{0, 0, 0, 10, 0x7f, 0x00, 0, 0, 0, 0, 0, 1, 0xff, 0xff})
	expectConnClosed(t, unknown)
	rawControlRequest(t, good, metadata, 3)

	// ApiVersions v5: UNSUPPORTED_VERSION in the v0 format, listing ours;
	// the connection stays usable.
	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(5)
	body := rawControlRequest(t, good, av, 4)
	v0 := kmsg.NewPtrApiVersionsResponse()
	v0.SetVersion(0)
	if err := v0.ReadFrom(body); err != nil {
		t.Fatal(err)
	}
	if v0.ErrorCode != 35 || len(v0.ApiKeys) == 0 {
		t.Fatalf("fallback: %+v", v0)
	}
	found := false
	for _, k := range v0.ApiKeys {
		if k.ApiKey == int16(kmsg.ApiVersions) {
			found = k.MinVersion == 0 && k.MaxVersion == 4
		}
	}
	if !found {
		t.Fatalf("fallback does not list ApiVersions v0-v4: %+v", v0.ApiKeys)
	}
	rawControlRequest(t, good, metadata, 5)
}

// TestLocalhostListensOnBothLoopbacks: clients resolve localhost to
// 127.0.0.1 or ::1, so a localhost listener binds both, on one port.
func TestLocalhostListensOnBothLoopbacks(t *testing.T) {
	b := testbroker.Start(t, map[string]string{"listeners": "PLAINTEXT://localhost:0"})
	addrs := b.Addrs()
	var v4, v6 *net.TCPAddr
	for _, a := range addrs {
		ta := a.(*net.TCPAddr)
		if ta.IP.To4() != nil {
			v4 = ta
		} else {
			v6 = ta
		}
	}
	if v4 == nil {
		t.Fatalf("no IPv4 listener: %v", addrs)
	}
	if v6 == nil {
		if ln, err := net.Listen("tcp", "[::1]:0"); err == nil {
			ln.Close()
			t.Fatalf("IPv6 loopback works here but was not bound: %v", addrs)
		}
		t.Skip("no IPv6 loopback on this machine")
	}
	if v4.Port != v6.Port {
		t.Fatalf("ports differ: %v", addrs)
	}
	metadata := kmsg.NewPtrMetadataRequest()
	metadata.SetVersion(4)
	for _, a := range []*net.TCPAddr{v4, v6} {
		c, err := net.Dial("tcp", a.String())
		if err != nil {
			t.Fatal(err)
		}
		body := rawControlRequest(t, c, metadata, 1)
		c.Close()
		resp := kmsg.NewPtrMetadataResponse()
		resp.SetVersion(4)
		if err := resp.ReadFrom(body); err != nil || len(resp.Brokers) != 1 || resp.Brokers[0].Host != "localhost" || int(resp.Brokers[0].Port) != v4.Port {
			t.Fatalf("metadata via %v: %v %+v", a, err, resp.Brokers)
		}
	}
}
