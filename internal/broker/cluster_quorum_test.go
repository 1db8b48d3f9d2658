package broker_test

import (
	"slices"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/clustertest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeQuorum, sent to any node (here a learner and a voter that is
// not the controller), describes the Raft log as the active controller
// sees it: the controller leads, voters are CurrentVoters, learners
// Observers, and a majority of voters holds the high watermark. Every
// member has a last fetch and caught-up time (KIP-836) no later than the
// answer; the leader's own are the time of the answer.
func TestClusterDescribeQuorum(t *testing.T) {
	c := clustertest.StartWithLearners(t, 3, 1, nil)
	c.WaitForBrokers(t, 4)
	c.WaitForLearner(t, 4)
	ctl := c.WaitForController(t)
	describe := func(addr string, topic string) *kmsg.DescribeQuorumResponse {
		req := kmsg.NewPtrDescribeQuorumRequest()
		rt := kmsg.NewDescribeQuorumRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewDescribeQuorumRequestTopicPartition()
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return seedRequest(t, addr, req).(*kmsg.DescribeQuorumResponse)
	}
	for _, n := range c.Nodes {
		if n.ID == ctl {
			continue
		}
		var resp *kmsg.DescribeQuorumResponse
		var before, after int64 // ms around the last request
		clustertest.WaitFor(t, 30*time.Second, "every member's progress and times", func() bool {
			before = time.Now().UnixMilli()
			resp = describe(n.Addr, "__cluster_metadata")
			after = time.Now().UnixMilli()
			p := resp.Topics[0].Partitions[0]
			if p.ErrorCode != 0 || len(p.Observers) != 1 {
				return false
			}
			for _, r := range append(p.CurrentVoters, p.Observers...) {
				if r.LogEndOffset < 0 || r.LastFetchTimestamp <= 0 || r.LastCaughtUpTimestamp <= 0 {
					return false
				}
			}
			return true
		})
		for _, r := range append(resp.Topics[0].Partitions[0].CurrentVoters, resp.Topics[0].Partitions[0].Observers...) {
			if r.LastFetchTimestamp > after || r.LastCaughtUpTimestamp > r.LastFetchTimestamp {
				t.Fatalf("node %d: replica %d last fetch %d, caught up %d, answered by %d", n.ID, r.ReplicaID, r.LastFetchTimestamp, r.LastCaughtUpTimestamp, after)
			}
			if r.ReplicaID == ctl && (r.LastFetchTimestamp < before || r.LastCaughtUpTimestamp < before) {
				t.Fatalf("node %d: the leader's own times %d, %d are before the request at %d", n.ID, r.LastFetchTimestamp, r.LastCaughtUpTimestamp, before)
			}
		}
		p := resp.Topics[0].Partitions[0]
		if p.LeaderID != ctl || p.LeaderEpoch < 1 || p.HighWatermark < 1 {
			t.Fatalf("node %d: leader %d epoch %d high watermark %d, want controller %d", n.ID, p.LeaderID, p.LeaderEpoch, p.HighWatermark, ctl)
		}
		var voters []int32
		held := 0
		for _, v := range p.CurrentVoters {
			voters = append(voters, v.ReplicaID)
			if v.LogEndOffset >= p.HighWatermark {
				held++
			}
		}
		if !slices.Equal(voters, []int32{1, 2, 3}) || p.Observers[0].ReplicaID != 4 || held < 2 {
			t.Fatalf("node %d: voters %+v observers %+v", n.ID, p.CurrentVoters, p.Observers)
		}
		if len(resp.Nodes) != 3 || len(resp.Nodes[0].Listeners) != 1 || resp.Nodes[0].Listeners[0].Name != "CONTROLLER" {
			t.Fatalf("node %d: v2 nodes %+v", n.ID, resp.Nodes)
		}
	}
	if p := describe(c.Nodes[0].Addr, "orders").Topics[0].Partitions[0]; p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("a topic other than the metadata log: %v", kerr.ErrorForCode(p.ErrorCode))
	}
}
