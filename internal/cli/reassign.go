package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

// Partition reassignment (KIP-455): move a partition's replicas to other
// brokers, and watch the moves in progress. The broker copies the data
// and completes the move on its own; these commands only start, cancel
// and list.

func (a *app) topicReassignCommand() *cobra.Command {
	var (
		partitions []int32
		replicas   []int32
		cancel     bool
	)
	cmd := &cobra.Command{
		Use:   "reassign TOPIC --partition N --replicas ID,ID,...",
		Short: "Move partitions to other brokers (or cancel a move in progress)",
		Long: `Move partitions to other brokers (KIP-455). The new replicas copy the data
from the leader, join the ISR once caught up, and then the old ones are
dropped, all while the partition keeps serving. The first replica is the
preferred leader. The copy can be throttled with the dynamic broker config
follower.replication.throttled.rate (bytes per second). Follow the move
with "gregor topic reassignments".`,
		Example: `  gregor topic reassign orders --partition 0 --replicas 2,3,4
  gregor topic reassign orders -P 0 -P 1 --replicas 4,5,6
  gregor topic reassign orders --partition 0 --cancel`,
		Args: exactArgs("TOPIC"),
		RunE: action(func(cmd *cobra.Command, args []string) error {
			topic := args[0]
			switch {
			case len(partitions) == 0:
				return usageErrorf("give the partitions to move with --partition")
			case cancel == (len(replicas) > 0):
				return usageErrorf("give either --replicas or --cancel")
			}
			var req kadm.AlterPartitionAssignmentsReq
			for _, p := range partitions {
				if cancel {
					req.CancelAssign(topic, p)
				} else {
					req.Assign(topic, p, replicas)
				}
			}
			return a.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				resps, err := adm.AlterPartitionAssignments(ctx, req)
				if err != nil {
					return a.requestError(ctx, "reassign partitions", err)
				}
				names := make([]string, len(partitions))
				got := map[string]answer{}
				for i, p := range partitions {
					names[i] = strconv.Itoa(int(p))
					if r, ok := resps[topic][p]; ok {
						got[names[i]] = answer{r.Err, r.ErrMessage}
					}
				}
				return a.printStatuses(names, got, statusTable{
					noun:    "PARTITION",
					missing: "no answer for this partition",
					named:   func(p string, err error) error { return fmt.Errorf("%s-%s: %w", topic, p, err) },
				})
			})
		}),
	}
	fs := cmd.Flags()
	fs.Int32SliceVarP(&partitions, "partition", "P", nil, "partition to move (repeatable, or comma-separated)")
	fs.Int32SliceVar(&replicas, "replicas", nil, "the new replicas, broker ids comma-separated, preferred leader first")
	fs.BoolVar(&cancel, "cancel", false, "cancel the move in progress: back to the replicas before it")
	return cmd
}

func (a *app) topicReassignmentsCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "reassignments [TOPIC...]",
		Short:   "List the partition moves in progress",
		Example: "  gregor topic reassignments\n  gregor topic reassignments orders",
		RunE: action(func(cmd *cobra.Command, topics []string) error {
			return a.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				// kadm lists the partitions it is given: take them from
				// the topics' metadata.
				details, err := adm.ListTopics(ctx, topics...)
				if err != nil {
					return a.requestError(ctx, "list topics", err)
				}
				set := kadm.TopicsSet{}
				for _, d := range details {
					if d.Err != nil {
						return topicError(d.Topic, d.Err)
					}
					for p := range d.Partitions {
						set.Add(d.Topic, p)
					}
				}
				moves, err := adm.ListPartitionReassignments(ctx, set)
				if err != nil {
					return a.requestError(ctx, "list reassignments", err)
				}
				t := newTable(a.stdout, "TOPIC", "PARTITION", "REPLICAS", "ADDING", "REMOVING")
				for _, m := range moves.Sorted() {
					t.row(m.Topic, strconv.Itoa(int(m.Partition)), ids(m.Replicas), ids(m.AddingReplicas), ids(m.RemovingReplicas))
				}
				return t.flush()
			})
		}),
	}
}

// ids formats broker ids as a comma-separated list.
func ids(list []int32) string {
	s := make([]string, len(list))
	for i, id := range list {
		s[i] = strconv.Itoa(int(id))
	}
	return strings.Join(s, ",")
}
