package broker

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/gregor-log/gregor/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// materialize returns a Spliced body as one buffer, reading file ranges
// with ReadAt (what the connection does when it cannot use sendfile).
func materialize(t testing.TB, s *wire.Spliced) []byte {
	t.Helper()
	out := make([]byte, 0, s.Len())
	for _, p := range s.Parts {
		if p.Slice.Size > 0 && len(p.Bytes) > 0 {
			t.Fatal("part with both bytes and a slice")
		}
		out = append(out, p.Bytes...)
		if p.Slice.Size > 0 {
			b := make([]byte, p.Slice.Size)
			if _, err := p.Slice.File.ReadAt(b, p.Slice.Pos); err != nil && err != io.EOF {
				t.Fatal(err)
			}
			out = append(out, b...)
		}
	}
	return out
}

// expectedFetchResponse builds, with kmsg's types, the response that r
// is meant to encode.
func expectedFetchResponse(t testing.TB, r *fetchResponse) *kmsg.FetchResponse {
	want := kmsg.NewPtrFetchResponse()
	want.Version = r.version
	want.ErrorCode = r.errorCode
	want.SessionID = r.sessionID
	for i := range r.results {
		res := &r.results[i]
		if i == 0 || !r.sameTopic(i-1, i) {
			want.Topics = append(want.Topics, kmsg.FetchResponseTopic{Topic: res.topic, TopicID: res.topicID})
			if r.version >= 13 {
				want.Topics[len(want.Topics)-1].Topic = ""
			}
		}
		p := kmsg.NewFetchResponseTopicPartition()
		p.Partition = res.partition
		p.ErrorCode = res.errorCode
		p.HighWatermark = res.highWatermark
		p.LastStableOffset = res.lastStableOffset
		p.LogStartOffset = res.logStartOffset
		if r.readCommitted && res.errorCode == 0 {
			p.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
		}
		p.PreferredReadReplica = -1
		p.RecordBatches = []byte{}
		if res.records.Size > 0 {
			p.RecordBatches = materialize(t, &wire.Spliced{Parts: []wire.Part{{Slice: res.records}}})
		}
		if res.diverging {
			p.DivergingEpoch.Epoch = res.divergingEpoch
			p.DivergingEpoch.EndOffset = res.divergingEndOffset
		}
		if res.hasCurrentLeader {
			p.CurrentLeader.LeaderID = res.currentLeader.leaderID
			p.CurrentLeader.LeaderEpoch = res.currentLeader.leaderEpoch
		}
		top := &want.Topics[len(want.Topics)-1]
		top.Partitions = append(top.Partitions, p)
	}
	if r.version >= 16 {
		for _, e := range r.nodeEndpoints {
			b := kmsg.NewFetchResponseBroker()
			b.NodeID, b.Host, b.Port, b.Rack = e.nodeID, e.host, e.port, e.rack
			want.Brokers = append(want.Brokers, b)
		}
	}
	return want
}

func TestFetchResponseEncodingIsExact(t *testing.T) {
	part := newFakePartition(t)
	part.appendBatch(t, 3, 10, 1000)
	part.appendBatch(t, 1, 300, 2000) // 300-byte value: lengths above 127 need two uvarint bytes
	first, _ := part.Read(0, 1, 4)
	both, _ := part.Read(0, 1<<20, 4)
	idA, idB := [16]byte{1}, [16]byte{2}

	results := []fetchResult{
		{topic: "a", topicID: idA, partition: 0, highWatermark: 4, lastStableOffset: 4, logStartOffset: 0, records: both},
		{topic: "a", topicID: idA, partition: 1, errorCode: kerr.OffsetOutOfRange.Code, highWatermark: -1, lastStableOffset: -1, logStartOffset: -1},
		{topic: "b", topicID: idB, partition: 7, highWatermark: 9, lastStableOffset: 8, logStartOffset: 2},
		{topic: "b", topicID: idB, partition: 3, highWatermark: 4, lastStableOffset: 4, records: first},
		{topic: "a", topicID: idA, partition: 2, highWatermark: 5, lastStableOffset: 5, logStartOffset: 1,
			diverging: true, divergingEpoch: 3, divergingEndOffset: 42},
	}
	// Leader hints (KIP-951): alone, and next to a diverging epoch (both
	// tags on one partition, in tag order).
	rack := "rack-2"
	hinted := append(append([]fetchResult(nil), results...),
		fetchResult{topic: "b", topicID: idB, partition: 4, errorCode: kerr.NotLeaderForPartition.Code, highWatermark: -1, lastStableOffset: -1, logStartOffset: -1,
			currentLeader: leaderHint{leaderID: 2, leaderEpoch: 7}, hasCurrentLeader: true},
		fetchResult{topic: "b", topicID: idB, partition: 5, highWatermark: 5, lastStableOffset: 5,
			diverging: true, divergingEpoch: 1, divergingEndOffset: 3,
			currentLeader: leaderHint{leaderID: 300, leaderEpoch: 1 << 20}, hasCurrentLeader: true})
	endpoints := []hintEndpoint{{nodeID: 2, host: "node-2.example", port: 19092, rack: &rack}, {nodeID: 300, host: "h", port: 1}}
	cases := []struct {
		name string
		resp fetchResponse
	}{
		{"empty", fetchResponse{}},
		{"session error", fetchResponse{errorCode: kerr.InvalidFetchSessionEpoch.Code}},
		{"mixed", fetchResponse{sessionID: 77, results: results}},
		{"read committed", fetchResponse{readCommitted: true, results: results}},
		{"leader hints", fetchResponse{results: hinted, nodeEndpoints: endpoints}},
	}
	for v := int16(4); v <= fetchMaxVersion; v++ {
		for _, c := range cases {
			t.Run(fmt.Sprintf("v%d/%s", v, c.name), func(t *testing.T) {
				r := c.resp
				r.version = v
				r.results = append([]fetchResult(nil), r.results...)
				if v < 12 {
					// DivergingEpoch is a tagged field: only flexible versions carry it.
					for i := range r.results {
						r.results[i].diverging = false
						r.results[i].hasCurrentLeader = false
					}
				}
				sp := r.spliced()
				if sp.Flexible != (v >= 12) {
					t.Errorf("Flexible = %v at v%d", sp.Flexible, v)
				}
				got := materialize(t, sp)
				if int64(len(got)) != sp.Len() {
					t.Fatalf("Len() = %d, materialized %d bytes", sp.Len(), len(got))
				}
				want := expectedFetchResponse(t, &r)
				if wantBytes := want.AppendTo(nil); !bytes.Equal(got, wantBytes) {
					t.Fatalf("encoding differs from kmsg's\n got %x\nwant %x", got, wantBytes)
				}
				dec := kmsg.NewPtrFetchResponse()
				dec.Version = v
				if err := dec.ReadFrom(got); err != nil {
					t.Fatalf("kmsg cannot decode it: %v", err)
				}
				if !bytes.Equal(dec.AppendTo(nil), got) {
					t.Fatal("decoded response does not re-encode to the same bytes")
				}
				if len(r.results) > 0 && !bytes.Equal(dec.Topics[0].Partitions[0].RecordBatches, materialize(t, &wire.Spliced{Parts: []wire.Part{{Slice: both}}})) {
					t.Fatal("records differ after decoding")
				}
			})
		}
	}
}
