package cli

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

var errUnhealthy = errors.New("cluster is unhealthy")

func (a *app) clusterCommand() *cobra.Command {
	config := newGroup("config", "Get and set broker configs",
		"  gregor cluster config get\n  gregor cluster config set log.retention.ms=86400000",
		a.clusterConfigGetCommand(),
		a.clusterConfigSetCommand(),
	)
	cmd := newGroup("cluster", "Show the cluster's brokers, health and configs",
		"  gregor cluster info\n  gregor cluster health",
		a.clusterInfoCommand(),
		a.clusterHealthCommand(),
		a.clusterQuorumCommand(),
		a.clusterUnregisterCommand(),
		config,
	)
	a.addClientFlags(cmd)
	return cmd
}

func (a *app) clusterInfoCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "info",
		Short:   "Show the cluster id, the controller and the brokers",
		Example: "  gregor cluster info\n  gregor cluster info --brokers kafka-1:9092",
		Args:    exactArgs(),
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			return a.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				md, err := adm.BrokerMetadata(ctx)
				if err != nil {
					return a.requestError(ctx, "metadata", err)
				}
				t := newTable(a.stdout)
				t.row("CLUSTER", md.Cluster)
				t.row("CONTROLLER", strconv.Itoa(int(md.Controller)))
				if err := t.flush(); err != nil {
					return err
				}
				fmt.Fprintln(a.stdout)
				t = newTable(a.stdout, "NODE", "HOST", "PORT", "RACK")
				for _, b := range sortedBrokers(md.Brokers) {
					rack := ""
					if b.Rack != nil {
						rack = *b.Rack
					}
					t.row(strconv.Itoa(int(b.NodeID)), b.Host, strconv.Itoa(int(b.Port)), rack)
				}
				return t.flush()
			})
		}),
	}
}

func sortedBrokers(bs kadm.BrokerDetails) kadm.BrokerDetails {
	out := append(kadm.BrokerDetails(nil), bs...)
	sort.Slice(out, func(i, j int) bool { return out[i].NodeID < out[j].NodeID })
	return out
}

func (a *app) clusterHealthCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "health",
		Short: "Check brokers, controller and partition leadership; exit 1 if unhealthy",
		Long: `Check that every broker answers, that there is a controller, and that every
partition has a leader and a full ISR. Prints the findings; exits 1 when
the cluster is unhealthy, so scripts can wait on it.`,
		Example: "  gregor cluster health\n  until gregor cluster health >/dev/null; do sleep 1; done",
		Args:    exactArgs(),
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			return a.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				md, err := adm.Metadata(ctx)
				if err != nil {
					return a.requestError(ctx, "metadata", err)
				}
				versions, err := adm.ApiVersions(ctx)
				if err != nil {
					return a.requestError(ctx, "api versions", err)
				}
				h := checkHealth(md, versions)
				t := newTable(a.stdout)
				t.row("HEALTHY", strconv.FormatBool(len(h.problems) == 0))
				t.row("BROKERS", strconv.Itoa(len(md.Brokers)))
				t.row("UNREACHABLE-BROKERS", int32sString(h.unreachable))
				t.row("CONTROLLER", strconv.Itoa(int(md.Controller)))
				t.row("LEADERLESS-PARTITIONS", strconv.Itoa(h.leaderless))
				t.row("UNDER-REPLICATED-PARTITIONS", strconv.Itoa(h.underReplicated))
				if err := t.flush(); err != nil {
					return err
				}
				if len(h.problems) > 0 {
					return fmt.Errorf("%w: %s", errUnhealthy, strings.Join(h.problems, "; "))
				}
				return nil
			})
		}),
	}
}

type health struct {
	unreachable                 []int32
	leaderless, underReplicated int
	problems                    []string
}

// checkHealth judges a metadata snapshot and the brokers' ApiVersions
// answers.
func checkHealth(md kadm.Metadata, versions kadm.BrokersApiVersions) health {
	var h health
	for _, b := range sortedBrokers(md.Brokers) {
		if v, ok := versions[b.NodeID]; !ok || v.Err != nil {
			h.unreachable = append(h.unreachable, b.NodeID)
		}
	}
	for _, t := range md.Topics {
		for _, p := range t.Partitions {
			if p.Err != nil || p.Leader < 0 {
				h.leaderless++
			}
			if len(p.ISR) < len(p.Replicas) {
				h.underReplicated++
			}
		}
	}
	if len(h.unreachable) > 0 {
		h.problems = append(h.problems, fmt.Sprintf("brokers %s do not answer", int32sString(h.unreachable)))
	}
	if md.Controller < 0 {
		h.problems = append(h.problems, "no controller")
	}
	if h.leaderless > 0 {
		h.problems = append(h.problems, fmt.Sprintf("%d partition(s) without a leader", h.leaderless))
	}
	if h.underReplicated > 0 {
		h.problems = append(h.problems, fmt.Sprintf("%d under-replicated partition(s)", h.underReplicated))
	}
	return h
}

func (a *app) clusterConfigGetCommand() *cobra.Command {
	var (
		node           int32
		clusterDefault bool
		all            bool
	)
	cmd := &cobra.Command{
		Use:   "get [KEY...]",
		Short: "Show broker configs (DescribeConfigs)",
		Long: `Show the configs of one broker (--node, default: the lowest node id), or
with --cluster-default the dynamic values set for every broker. Only the
given KEYs when there are any.`,
		Example: `  gregor cluster config get
  gregor cluster config get log.retention.ms num.partitions --node 2
  gregor cluster config get --cluster-default`,
		Args: cobra.ArbitraryArgs,
		RunE: action(func(cmd *cobra.Command, keys []string) error {
			return a.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				var nodes []int32
				if !clusterDefault {
					if cmd.Flags().Changed("node") {
						nodes = []int32{node}
					} else {
						md, err := adm.BrokerMetadata(ctx)
						if err != nil {
							return a.requestError(ctx, "metadata", err)
						}
						ids := md.Brokers.NodeIDs()
						if len(ids) == 0 {
							return errors.New("the cluster lists no brokers")
						}
						nodes = ids[:1]
					}
				}
				rcs, err := adm.DescribeBrokerConfigs(ctx, nodes...)
				if err != nil {
					return a.requestError(ctx, "describe configs", err)
				}
				if len(rcs) != 1 {
					return fmt.Errorf("describe configs: %d answers for one resource", len(rcs))
				}
				rc := rcs[0]
				if rc.Err != nil {
					return fmt.Errorf("describe configs: %w", kafkaError(rc.Err, rc.ErrMessage))
				}
				// want is read-only while printing: the keys still missing
				// are counted apart, so that finding the last key does not
				// turn the filter off for the rows after it.
				want := map[string]bool{}
				for _, k := range keys {
					want[k] = true
				}
				missing := maps.Clone(want)
				configs := rc.Configs
				sort.Slice(configs, func(i, j int) bool { return configs[i].Key < configs[j].Key })
				t := newTable(a.stdout, "CONFIG", "VALUE", "SOURCE")
				for _, c := range configs {
					if len(want) > 0 && !want[c.Key] {
						continue
					}
					if len(want) == 0 && !all && c.Value == nil && !c.Sensitive {
						continue
					}
					delete(missing, c.Key)
					t.row(c.Key, configValue(c), c.Source.String())
				}
				if err := t.flush(); err != nil {
					return err
				}
				if len(missing) > 0 {
					return usageErrorf("unknown config(s): %s", strings.Join(slices.Sorted(maps.Keys(missing)), ", "))
				}
				return nil
			})
		}),
	}
	cmd.Flags().Int32Var(&node, "node", 0, "the broker whose configs to show")
	cmd.Flags().BoolVar(&clusterDefault, "cluster-default", false, "show the cluster-wide dynamic defaults instead of one broker")
	cmd.Flags().BoolVar(&all, "all", false, "also show configs without a value")
	return cmd
}

func (a *app) clusterConfigSetCommand() *cobra.Command {
	var (
		node    int32
		deletes []string
		dryRun  bool
	)
	cmd := &cobra.Command{
		Use:   "set KEY=VALUE... [--delete KEY]",
		Short: "Change broker configs (IncrementalAlterConfigs)",
		Long: `Set or reset dynamic broker configs, for every broker (the cluster-wide
default) or, with --node, for one. On Gregor the dynamic ones are the
defaults of topic configs (log.retention.ms, log.segment.bytes,
message.max.bytes, log.cleanup.policy, ...): a change applies at once to
every topic without its own override and survives restarts. Other broker
configs are refused; set them in the config file and restart.`,
		Example: `  gregor cluster config set log.retention.ms=86400000
  gregor cluster config set --node 1 log.segment.bytes=536870912
  gregor cluster config set --delete log.retention.ms`,
		Args: cobra.ArbitraryArgs,
		RunE: action(func(cmd *cobra.Command, sets []string) error {
			alters, err := alterConfigs(sets, deletes)
			if err != nil {
				return err
			}
			return a.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				var nodes []int32
				name := ""
				if cmd.Flags().Changed("node") {
					nodes = []int32{node}
					name = strconv.Itoa(int(node))
				}
				alter := adm.AlterBrokerConfigs
				if dryRun {
					alter = adm.ValidateAlterBrokerConfigs
				}
				resps, err := alter(ctx, alters, nodes...)
				if err != nil {
					return a.requestError(ctx, "alter configs", err)
				}
				label := func(n string, err error) error {
					if n == "" {
						return fmt.Errorf("cluster default: %w", err)
					}
					return fmt.Errorf("node %s: %w", n, err)
				}
				return a.printAlterResults("NODE", []string{name}, resps, label)
			})
		}),
	}
	cmd.Flags().Int32Var(&node, "node", 0, "change only this broker (default: the cluster-wide default)")
	cmd.Flags().StringArrayVar(&deletes, "delete", nil, "reset config KEY (repeatable)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "validate only; change nothing")
	return cmd
}
