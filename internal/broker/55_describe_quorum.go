package broker

import (
	"context"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/gregor-log/gregor/internal/quorum"
	"github.com/gregor-log/gregor/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeQuorum v0-v2 (KIP-595, KIP-836, KIP-853): the metadata quorum as
// Kafka's kafka-metadata-quorum tool shows it. The one partition,
// __cluster_metadata-0, is the Raft log: its leader is the active
// controller, its leader epoch the Raft term, its high watermark the
// commit index, and each member's log end offset the last index the
// leader knows it holds (raft's Match; Gregor's offsets are Raft
// indexes). Voters are CurrentVoters, learners Observers; v2 adds the
// voters' controller listeners. The leader answers; another node forwards
// the request there. v1's LastFetchTimestamp and LastCaughtUpTimestamp
// are the leader's quorum.Status LastContact and CaughtUp: the last Raft
// response (append or heartbeat) from each member in the current term,
// and the latest time its log was known to reach the leader's log end;
// the leader's own are the time of the answer; -1 when not known (a
// member not heard from since this leadership began). Registered only in
// a cluster.
func init() { registerClusterAPI(kmsg.DescribeQuorum, 0, 2, handleDescribeQuorum) }

// controllerListenerName names the Raft listener in v2's Nodes, as
// Kafka's default controller listener is named.
const controllerListenerName = "CONTROLLER"

func handleDescribeQuorum(ctx context.Context, b *Broker, req *wire.Request) (any, error) {
	if resp, ok := b.forwardToController(ctx, req); ok {
		return resp, nil
	}
	r := req.Body.(*kmsg.DescribeQuorumRequest)
	resp := r.ResponseKind().(*kmsg.DescribeQuorumResponse)
	st := b.cluster.quorum.Status()
	for _, rt := range r.Topics {
		t := kmsg.NewDescribeQuorumResponseTopic()
		t.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			p := kmsg.NewDescribeQuorumResponseTopicPartition()
			p.Partition = rp.Partition
			switch {
			case rt.Topic != reservedTopic || rp.Partition != 0:
				p.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case st.Leader != b.nodeID() || st.Match == nil:
				// Forwarding failed, or leadership moved meanwhile.
				p.ErrorCode = kerr.NotLeaderForPartition.Code
			default:
				describeQuorumPartition(&p, st, r.Version)
			}
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	if r.Version >= 2 {
		for _, id := range st.Voters {
			n := kmsg.NewDescribeQuorumResponseNode()
			n.NodeID = id
			if host, port, err := net.SplitHostPort(st.Members[id]); err == nil {
				if p, err := strconv.ParseUint(port, 10, 16); err == nil {
					l := kmsg.NewDescribeQuorumResponseNodeListener()
					l.Name, l.Host, l.Port = controllerListenerName, host, uint16(p)
					n.Listeners = append(n.Listeners, l)
				}
			}
			resp.Nodes = append(resp.Nodes, n)
		}
	}
	return resp, nil
}

// describeQuorumPartition fills the Raft log's partition from the
// leader's status.
func describeQuorumPartition(p *kmsg.DescribeQuorumResponseTopicPartition, st quorum.Status, version int16) {
	p.LeaderID = st.Leader
	p.LeaderEpoch = int32(min(st.Term, 1<<31-1))
	p.HighWatermark = int64(st.Commit)
	replica := func(id int32) kmsg.DescribeQuorumResponseTopicPartitionReplicaState {
		rs := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		rs.ReplicaID, rs.LogEndOffset = id, -1
		if m, ok := st.Match[id]; ok {
			rs.LogEndOffset = int64(m)
		}
		rs.LastFetchTimestamp, rs.LastCaughtUpTimestamp = -1, -1
		if version >= 1 {
			rs.LastFetchTimestamp = unixMilliOr(st.LastContact, id)
			rs.LastCaughtUpTimestamp = unixMilliOr(st.CaughtUp, id)
		}
		return rs
	}
	for _, id := range slices.Sorted(slices.Values(st.Voters)) {
		p.CurrentVoters = append(p.CurrentVoters, replica(id))
	}
	for _, id := range slices.Sorted(slices.Values(st.Learners)) {
		p.Observers = append(p.Observers, replica(id))
	}
}

// unixMilliOr is id's time in ms since the epoch, or -1 when times has
// none for it.
func unixMilliOr(times map[int32]time.Time, id int32) int64 {
	if t, ok := times[id]; ok && !t.IsZero() {
		return t.UnixMilli()
	}
	return -1
}
