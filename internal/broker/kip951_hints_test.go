package broker

import (
	"bytes"
	"slices"
	"testing"

	"github.com/gregor-log/gregor/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// hintImage is an image with brokers 1 (rack r1), 2 (fenced) and 3 (no
// endpoint), and topic "t" whose partitions are led by 1, 2, 3, 1 and
// nobody.
func hintImage(t *testing.T) (*metadata.Image, metadata.TopicID) {
	t.Helper()
	id := metadata.TopicID{9, 9}
	recs := []metadata.Record{
		&metadata.ClusterRecord{ClusterID: "c"},
		&metadata.BrokerRecord{NodeID: 1, Rack: "r1", Endpoints: []metadata.Endpoint{{Name: "PLAINTEXT", Host: "one", Port: 1001}, {Name: "OTHER", Host: "x", Port: 1}}},
		&metadata.BrokerRecord{NodeID: 2, Endpoints: []metadata.Endpoint{{Name: "PLAINTEXT", Host: "two", Port: 1002}}, Fenced: true},
		&metadata.BrokerRecord{NodeID: 3},
		&metadata.TopicRecord{Name: "t", ID: id},
	}
	for i, leader := range []int32{1, 2, 3, 1, -1} {
		recs = append(recs, &metadata.PartitionRecord{TopicID: id, Partition: int32(i), Replicas: []int32{1, 2, 3},
			ISR: []int32{1, 2, 3}, Leader: leader, LeaderEpoch: int32(10 + i)})
	}
	img, err := metadata.Empty().Apply(recs...)
	if err != nil {
		t.Fatal(err)
	}
	return img, id
}

func TestProduceLeaderHints(t *testing.T) {
	img, _ := hintImage(t)
	notLeader, tooLarge := kerr.NotLeaderForPartition.Code, kerr.MessageTooLarge.Code
	type part struct {
		topic     string
		partition int32
		code      int16
	}
	cases := []struct {
		name    string
		version int16
		parts   []part
		// want CurrentLeader per partition, and the Brokers' node ids.
		want    [][2]int32
		brokers []int32
	}{
		{"v9 has no hints", 9, []part{{"t", 0, notLeader}}, [][2]int32{{-1, -1}}, nil},
		{"leader with an endpoint", 10, []part{{"t", 0, notLeader}}, [][2]int32{{1, 10}}, []int32{1}},
		{"v11 as v10", 11, []part{{"t", 3, notLeader}}, [][2]int32{{1, 13}}, []int32{1}},
		{"one endpoint per broker", 10, []part{{"t", 0, notLeader}, {"t", 3, notLeader}}, [][2]int32{{1, 10}, {1, 13}}, []int32{1}},
		{"fenced leader: no endpoint", 10, []part{{"t", 1, notLeader}}, [][2]int32{{2, 11}}, nil},
		{"leader without endpoints", 10, []part{{"t", 2, notLeader}}, [][2]int32{{3, 12}}, nil},
		{"no leader", 10, []part{{"t", 4, notLeader}}, [][2]int32{{-1, -1}}, nil},
		{"unknown partition", 10, []part{{"t", 5, notLeader}, {"t", -1, notLeader}}, [][2]int32{{-1, -1}, {-1, -1}}, nil},
		{"unknown topic", 10, []part{{"nope", 0, notLeader}}, [][2]int32{{-1, -1}}, nil},
		{"other errors get none", 10, []part{{"t", 0, tooLarge}, {"t", 0, 0}}, [][2]int32{{-1, -1}, {-1, -1}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := kmsg.NewPtrProduceResponse()
			resp.Version = c.version
			for _, p := range c.parts {
				rt := kmsg.NewProduceResponseTopic()
				rt.Topic = p.topic
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.partition, p.code
				rt.Partitions = append(rt.Partitions, rp)
				resp.Topics = append(resp.Topics, rt)
			}
			read := 0
			addProduceLeaderHints(resp, func() *metadata.Image { read++; return img })
			for i, rt := range resp.Topics {
				cl := rt.Partitions[0].CurrentLeader
				if got := [2]int32{cl.LeaderID, cl.LeaderEpoch}; got != c.want[i] {
					t.Errorf("partition %d: CurrentLeader %v, want %v", i, got, c.want[i])
				}
			}
			var brokers []int32
			for _, b := range resp.Brokers {
				brokers = append(brokers, b.NodeID)
				if b.NodeID == 1 && (b.Host != "one" || b.Port != 1001 || b.Rack == nil || *b.Rack != "r1") {
					t.Errorf("broker 1 as %s:%d rack %v, want the first listener one:1001 in r1", b.Host, b.Port, b.Rack)
				}
			}
			if !slices.Equal(brokers, c.brokers) {
				t.Errorf("Brokers %v, want %v", brokers, c.brokers)
			}
			if read > 1 {
				t.Errorf("the image was read %d times for one response", read)
			}
			// What the client decodes is what was set.
			dec := kmsg.NewPtrProduceResponse()
			dec.Version = c.version
			if err := dec.ReadFrom(resp.AppendTo(nil)); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(dec.AppendTo(nil), resp.AppendTo(nil)) {
				t.Error("the response does not survive encoding")
			}
		})
	}
	// A response without NOT_LEADER_OR_FOLLOWER never reads the image.
	resp := kmsg.NewPtrProduceResponse()
	resp.Version = 10
	resp.Topics = []kmsg.ProduceResponseTopic{{Topic: "t", Partitions: []kmsg.ProduceResponseTopicPartition{kmsg.NewProduceResponseTopicPartition()}}}
	addProduceLeaderHints(resp, func() *metadata.Image { t.Fatal("image read on the happy path"); return nil })
}

func TestFetchLeaderHints(t *testing.T) {
	img, id := hintImage(t)
	results := func() []fetchResult {
		return []fetchResult{
			{topic: "t", topicID: id, partition: 0, errorCode: kerr.NotLeaderForPartition.Code},
			{topic: "t", topicID: id, partition: 1, errorCode: kerr.FencedLeaderEpoch.Code},
			{topic: "t", topicID: id, partition: 3, errorCode: kerr.OffsetOutOfRange.Code},
			{topic: "t", topicID: id, partition: 4, errorCode: kerr.NotLeaderForPartition.Code},
			{topic: "t", topicID: id, partition: 0},
		}
	}
	wantHints := []struct {
		has  bool
		hint leaderHint
	}{{true, leaderHint{1, 10}}, {true, leaderHint{2, 11}}, {}, {}, {}}
	for v := int16(4); v <= fetchMaxVersion; v++ {
		resp := &fetchResponse{version: v, results: results()}
		if v >= 13 {
			// v13+ names topics by id only.
			for i := range resp.results {
				resp.results[i].topic = ""
			}
		}
		addFetchLeaderHints(resp, func() *metadata.Image { return img })
		for i, res := range resp.results {
			want := wantHints[i]
			if v < 12 {
				want.has = false
			}
			if res.hasCurrentLeader != want.has || (want.has && res.currentLeader != want.hint) {
				t.Errorf("v%d partition %d: hint %v %v, want %v %v", v, res.partition, res.hasCurrentLeader, res.currentLeader, want.has, want.hint)
			}
		}
		var endpoints []int32
		for _, e := range resp.nodeEndpoints {
			endpoints = append(endpoints, e.nodeID)
		}
		var wantEndpoints []int32
		if v >= 16 {
			wantEndpoints = []int32{1} // 2 is fenced
		}
		if !slices.Equal(endpoints, wantEndpoints) {
			t.Errorf("v%d: NodeEndpoints %v, want %v", v, endpoints, wantEndpoints)
		}
		// The encoding carries them as a client reads them.
		dec := kmsg.NewPtrFetchResponse()
		dec.Version = v
		if err := dec.ReadFrom(materialize(t, resp.spliced())); err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		p0 := dec.Topics[0].Partitions[0]
		if v >= 12 && (p0.CurrentLeader.LeaderID != 1 || p0.CurrentLeader.LeaderEpoch != 10) {
			t.Errorf("v%d: decoded CurrentLeader %+v", v, p0.CurrentLeader)
		}
		if v >= 16 && (len(dec.Brokers) != 1 || dec.Brokers[0].Host != "one" || dec.Brokers[0].Port != 1001) {
			t.Errorf("v%d: decoded Brokers %+v", v, dec.Brokers)
		}
	}
}
