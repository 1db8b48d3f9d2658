package wire

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// fuzzAPIs accepts every key and version kmsg can decode, so the fuzzer
// reaches every body decoder.
var fuzzAPIs = func() map[int16]APIRange {
	m := map[int16]APIRange{}
	for key := int16(0); key < 100; key++ {
		if r := kmsg.RequestForKey(key); r != nil {
			m[key] = APIRange{Key: key, MinVersion: 0, MaxVersion: r.MaxVersion()}
		}
	}
	return m
}()

func fuzzSeeds(f *testing.F) {
	fm := kmsg.NewRequestFormatter(kmsg.FormatterClientID("seed"))
	md := kmsg.NewPtrMetadataRequest()
	topic := "t"
	md.Topics = append(md.Topics, kmsg.MetadataRequestTopic{Topic: &topic})
	for _, v := range []int16{0, 1, 9, 12} {
		md.SetVersion(v)
		f.Add(fm.AppendRequest(nil, md, 1)[4:])
	}
	av := kmsg.NewPtrApiVersionsRequest()
	for _, v := range []int16{0, 3, 5} {
		av.SetVersion(v)
		f.Add(fm.AppendRequest(nil, av, 2)[4:])
	}
	ct := kmsg.NewPtrCreateTopicsRequest()
	ct.Topics = append(ct.Topics, kmsg.CreateTopicsRequestTopic{Topic: "x", NumPartitions: 3, ReplicationFactor: 1})
	ct.SetVersion(5)
	f.Add(fm.AppendRequest(nil, ct, 3)[4:])
	p := kmsg.NewPtrProduceRequest()
	p.SetVersion(9)
	p.Topics = append(p.Topics, kmsg.ProduceRequestTopic{Topic: "t", Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: []byte{1, 2, 3}}}})
	f.Add(fm.AppendRequest(nil, p, 4)[4:])
	fe := kmsg.NewPtrFetchRequest()
	fe.SetVersion(12)
	f.Add(fm.AppendRequest(nil, fe, 5)[4:])
	f.Add([]byte{})
	f.Add([]byte{0, 18, 0, 3, 0, 0, 0, 1, 0xff, 0xff, 5, 1, 2})
}

// FuzzDecodeFrame feeds arbitrary frames to the request decoder: it must
// never panic, and what it accepts must encode a response without panic.
func FuzzDecodeFrame(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, frame []byte) {
		d, err := decodeFrame(frame, fuzzAPIs)
		if err != nil {
			return
		}
		if d.answer != nil {
			encodeResponse(nil, d.req, d.answer)
			return
		}
		encodeResponse(nil, d.req, d.req.Body.ResponseKind())
	})
}

// echoHandler answers every request with its empty response.
type echoHandler struct{}

func (echoHandler) Handle(_ context.Context, req *Request) (any, error) {
	return req.Body.ResponseKind(), nil
}

// FuzzConnection feeds an arbitrary byte stream (size-prefixed frames and
// garbage) to a whole connection with a small request limit: no panic, no
// hang, bounded memory.
func FuzzConnection(f *testing.F) {
	fuzzSeeds(f)
	var apis []APIRange
	for _, r := range fuzzAPIs {
		apis = append(apis, r)
	}
	s := NewServer(echoHandler{}, Options{MaxRequestBytes: 64 << 10, APIs: apis})
	f.Cleanup(func() { s.Close() })
	f.Fuzz(func(t *testing.T, frame []byte) {
		stream := binary.BigEndian.AppendUint32(nil, uint32(len(frame)))
		stream = append(stream, frame...)
		stream = append(stream, stream...) // two frames: pipelining
		client, server := net.Pipe()
		done := make(chan struct{})
		go func() { s.ServeConn(server); close(done) }()
		client.SetDeadline(time.Now().Add(5 * time.Second))
		go io.Copy(io.Discard, client) // drain responses
		// net.Pipe's Write returns once the server has read everything
		// (or closed the connection); then end the stream.
		client.Write(stream)
		client.Close()
		<-done
	})
}
