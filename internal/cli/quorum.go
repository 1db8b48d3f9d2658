package cli

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// errNoQuorum: the broker asked serves no DescribeQuorum, i.e. it is a
// single node, which runs no metadata quorum.
var errNoQuorum = errors.New("this broker runs no metadata quorum (a single node; DescribeQuorum is served in a cluster)")

// clusterQuorumCommand shows the Raft metadata quorum as Kafka's
// kafka-metadata-quorum tool does (describe --status and --replication):
// who leads, at what term, how far each voter and observer is, and when
// the leader last heard from each (DescribeQuorum, KIP-595/KIP-836).
func (a *app) clusterQuorumCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "quorum",
		Short: "Show the metadata quorum: leader, term and each member's lag",
		Long: `Show the Raft quorum that replicates the cluster metadata (DescribeQuorum):
the leader (the active controller), its term (EPOCH), the commit index
(HIGH WATERMARK), and per voter and observer (learner) the last index the
leader knows it holds, its lag behind the leader, when the leader last heard
from it and when it was last caught up. Any node answers (a node that is not
the leader asks the leader).`,
		Example: "  gregor cluster quorum",
		Args:    exactArgs(),
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			cl, err := a.client(cmd)
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := a.requestContext(cmd)
			defer cancel()
			versions, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
			if err != nil {
				return a.requestError(ctx, "api versions", err)
			}
			served := false
			for _, k := range versions.ApiKeys {
				served = served || k.ApiKey == int16(kmsg.DescribeQuorum)
			}
			if !served {
				return errNoQuorum
			}
			req := kmsg.NewPtrDescribeQuorumRequest()
			rt := kmsg.NewDescribeQuorumRequestTopic()
			rt.Topic = "__cluster_metadata"
			rt.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				return a.requestError(ctx, "describe quorum", err)
			}
			if err := quorumError(resp.ErrorCode, resp.ErrorMessage); err != nil {
				return err
			}
			if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
				return errors.New("describe quorum: the answer names no metadata partition")
			}
			p := resp.Topics[0].Partitions[0]
			if err := quorumError(p.ErrorCode, p.ErrorMessage); err != nil {
				return err
			}
			return a.printQuorum(p, time.Now())
		}),
	}
}

func quorumError(code int16, msg *string) error {
	err := kerr.ErrorForCode(code)
	if err == nil {
		return nil
	}
	if msg != nil && *msg != "" {
		return fmt.Errorf("describe quorum: %w: %s", err, *msg)
	}
	return fmt.Errorf("describe quorum: %w", err)
}

// printQuorum writes the status table, then one row per member: voters
// first, then observers, each in the answer's order.
func (a *app) printQuorum(p kmsg.DescribeQuorumResponseTopicPartition, now time.Time) error {
	t := newTable(a.stdout)
	t.row("LEADER", strconv.Itoa(int(p.LeaderID)))
	t.row("EPOCH", strconv.Itoa(int(p.LeaderEpoch)))
	t.row("HIGH WATERMARK", strconv.FormatInt(p.HighWatermark, 10))
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout)
	leaderEnd := p.HighWatermark
	for _, r := range p.CurrentVoters {
		if r.ReplicaID == p.LeaderID {
			leaderEnd = r.LogEndOffset
		}
	}
	t = newTable(a.stdout, "NODE", "ROLE", "LOG END", "LAG", "LAST FETCH", "LAST CAUGHT UP")
	row := func(r kmsg.DescribeQuorumResponseTopicPartitionReplicaState, role string) {
		if r.ReplicaID == p.LeaderID {
			role = "leader"
		}
		lag := "-"
		if r.LogEndOffset >= 0 {
			lag = strconv.FormatInt(max(leaderEnd-r.LogEndOffset, 0), 10)
		}
		t.row(strconv.Itoa(int(r.ReplicaID)), role, strconv.FormatInt(r.LogEndOffset, 10), lag,
			msAgo(r.LastFetchTimestamp, now), msAgo(r.LastCaughtUpTimestamp, now))
	}
	for _, r := range p.CurrentVoters {
		row(r, "voter")
	}
	for _, r := range p.Observers {
		row(r, "observer")
	}
	return t.flush()
}

// msAgo renders a timestamp in ms since the epoch as time before now
// ("-" when unknown, -1).
func msAgo(ms int64, now time.Time) string {
	if ms < 0 {
		return "-"
	}
	d := max(now.Sub(time.UnixMilli(ms)), 0)
	return d.Round(time.Millisecond).String() + " ago"
}
