package wire

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkRoundTrip is one Metadata v12 request and response at a time
// over loopback TCP: the server's per-request overhead plus two syscalls
// each way.
func BenchmarkRoundTrip(b *testing.B) {
	_, addr := startServer(b, 1<<20)
	c := dial(b, addr)
	req := metadataReq(12, "")
	frame := kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Write(frame); err != nil {
			b.Fatal(err)
		}
		if _, _, err := readFrame(c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPipelined keeps 16 requests in flight on one connection.
func BenchmarkPipelined(b *testing.B) {
	_, addr := startServer(b, 1<<20)
	c := dial(b, addr)
	const depth = 16
	frame := kmsg.NewRequestFormatter().AppendRequest(nil, metadataReq(12, ""), 1)
	var burst []byte
	for range depth {
		burst = append(burst, frame...)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Write(burst); err != nil {
			b.Fatal(err)
		}
		for range depth {
			if _, _, err := readFrame(c); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*depth), "ns/request")
}

func BenchmarkDecodeFrame(b *testing.B) {
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(12)
	for i := range 10 {
		name := "topic-" + string(rune('a'+i))
		md.Topics = append(md.Topics, kmsg.MetadataRequestTopic{Topic: &name})
	}
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("bench")).AppendRequest(nil, md, 1)[4:]
	apis := map[int16]APIRange{3: {Key: 3, MinVersion: 0, MaxVersion: 12}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeFrame(frame, apis); err != nil {
			b.Fatal(err)
		}
	}
}
