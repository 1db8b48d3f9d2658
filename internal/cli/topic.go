package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (a *app) topicCommand() *cobra.Command {
	cmd := newGroup("topic", "Create, list, describe, change and delete topics",
		"  gregor topic create orders -p 6\n  gregor topic describe orders",
		a.topicCreateCommand(),
		a.topicListCommand(),
		a.topicDescribeCommand(),
		a.topicDeleteCommand(),
		a.topicAlterConfigCommand(),
		a.topicAddPartitionsCommand(),
		a.topicTrimCommand(),
		a.topicReassignCommand(),      // reassign.go
		a.topicReassignmentsCommand(), // reassign.go
	)
	a.addClientFlags(cmd)
	return cmd
}

// parseKeyValues parses repeated key=value flags.
func parseKeyValues(flag string, kvs []string) (map[string]string, error) {
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usageErrorf("--%s %q: want key=value", flag, kv)
		}
		out[k] = v
	}
	return out, nil
}

// resultsError summarizes per-item failures that were also printed in a
// table: the single error itself, or a count with the first one.
func resultsError(noun string, total int, failed []error) error {
	switch len(failed) {
	case 0:
		return nil
	case 1:
		return failed[0]
	}
	return fmt.Errorf("%d of %d %s failed; first: %w", len(failed), total, noun, failed[0])
}

// kafkaError joins a Kafka error and the broker's own message, if any.
// With a message, the error code's generic description is noise.
func kafkaError(err error, msg string) error {
	if msg == "" || err == nil || strings.Contains(err.Error(), msg) {
		return err
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return &brokerError{code: ke, msg: msg}
	}
	return fmt.Errorf("%w (%s)", err, msg)
}

// brokerError is a Kafka error code with the broker's message.
type brokerError struct {
	code *kerr.Error
	msg  string
}

func (e *brokerError) Error() string { return e.code.Message + ": " + e.msg }
func (e *brokerError) Unwrap() error { return e.code }

// status is a table cell for a per-item result.
func status(err error) string {
	if err == nil {
		return "OK"
	}
	return oneLine(err.Error())
}

func (a *app) topicCreateCommand() *cobra.Command {
	var (
		partitions int32
		replicas   int16
		configs    []string
		dryRun     bool
	)
	cmd := &cobra.Command{
		Use:   "create TOPIC...",
		Short: "Create topics",
		Example: `  gregor topic create orders
  gregor topic create orders payments -p 6 -r 3
  gregor topic create events -c retention.ms=3600000 -c cleanup.policy=compact`,
		Args: minArgs(1, "TOPIC"),
		RunE: action(func(cmd *cobra.Command, topics []string) error {
			cfg, err := parseKeyValues("config", configs)
			if err != nil {
				return err
			}
			ptrs := make(map[string]*string, len(cfg))
			for k, v := range cfg {
				ptrs[k] = &v
			}
			return a.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				create := adm.CreateTopics
				if dryRun {
					create = adm.ValidateCreateTopics
				}
				resps, err := create(ctx, partitions, replicas, ptrs, topics...)
				if err != nil {
					return a.requestError(ctx, "create topics", err)
				}
				return a.printStatuses(topics, answers(resps, func(r kadm.CreateTopicResponse) answer { return answer{r.Err, r.ErrMessage} }), topicStatuses)
			})
		}),
	}
	fs := cmd.Flags()
	fs.Int32VarP(&partitions, "partitions", "p", -1, "number of partitions (-1: the broker's num.partitions)")
	fs.Int16VarP(&replicas, "replicas", "r", -1, "replication factor (-1: the broker's default.replication.factor)")
	fs.StringArrayVarP(&configs, "config", "c", nil, "topic config key=value (repeatable)")
	fs.BoolVar(&dryRun, "dry-run", false, "validate only; create nothing")
	return cmd
}

// unwrapTopic drops the `topic "x": ` prefix topicError adds, for table
// cells that already show the topic.
func unwrapTopic(err error) error {
	if err == nil {
		return nil
	}
	if u := errors.Unwrap(err); u != nil && strings.HasPrefix(err.Error(), "topic ") {
		return u
	}
	return err
}

func (a *app) topicListCommand() *cobra.Command {
	var internal bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List topics",
		Example: "  gregor topic list\n  gregor topic list --internal",
		Args:    exactArgs(),
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			return a.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				list := adm.ListTopics
				if internal {
					list = adm.ListTopicsWithInternal
				}
				topics, err := list(ctx)
				if err != nil {
					return a.requestError(ctx, "list topics", err)
				}
				t := newTable(a.stdout, "TOPIC", "PARTITIONS", "REPLICAS")
				for _, d := range topics.Sorted() {
					if d.Err != nil {
						t.row(d.Topic, status(d.Err), "")
						continue
					}
					t.row(d.Topic, strconv.Itoa(len(d.Partitions)), strconv.Itoa(d.Partitions.NumReplicas()))
				}
				return t.flush()
			})
		}),
	}
	cmd.Flags().BoolVarP(&internal, "internal", "i", false, "include internal topics (__consumer_offsets, ...)")
	return cmd
}

func (a *app) topicDescribeCommand() *cobra.Command {
	var allConfigs bool
	cmd := &cobra.Command{
		Use:   "describe TOPIC...",
		Short: "Show a topic's partitions, offsets and configs",
		Long: `Show a topic: its partitions with leader, leader epoch, replicas, ISR,
LogStartOffset and HighWatermark, and its configs that differ from the
defaults (all of them with --all-configs).`,
		Example: "  gregor topic describe orders\n  gregor topic describe orders --all-configs",
		Args:    minArgs(1, "TOPIC"),
		RunE: action(func(cmd *cobra.Command, topics []string) error {
			adm, done, err := a.admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			details, err := a.ensureTopics(cmd, adm, topics...)
			if err != nil {
				return err
			}
			ctx, cancel := a.requestContext(cmd)
			defer cancel()
			configs, err := adm.DescribeTopicConfigs(ctx, topics...)
			if err != nil {
				return a.requestError(ctx, "describe configs", err)
			}
			for i, name := range topics {
				if i > 0 {
					fmt.Fprintln(a.stdout)
				}
				rc, err := configs.On(name, nil)
				if err == nil {
					err = rc.Err
				}
				if err != nil {
					return topicError(name, kafkaError(err, rc.ErrMessage))
				}
				d := details[name]
				offsets, err := resolveOffsets(ctx, adm, name, d.Partitions.Numbers(),
					offsetPoint{kind: offsetFromStart}, offsetPoint{kind: offsetFromEnd})
				if err != nil {
					return a.requestError(ctx, "list offsets", err)
				}
				if err := a.printTopic(d, rc.Configs, offsets, allConfigs); err != nil {
					return err
				}
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&allConfigs, "all-configs", false, "show every config, defaults included")
	return cmd
}

func (a *app) printTopic(d kadm.TopicDetail, configs []kadm.Config, offsets map[int32][]int64, all bool) error {
	t := newTable(a.stdout)
	t.row("NAME", d.Topic)
	t.row("INTERNAL", strconv.FormatBool(d.IsInternal))
	t.row("PARTITIONS", strconv.Itoa(len(d.Partitions)))
	t.row("REPLICAS", strconv.Itoa(d.Partitions.NumReplicas()))
	if err := t.flush(); err != nil {
		return err
	}

	fmt.Fprintln(a.stdout)
	sort.Slice(configs, func(i, j int) bool { return configs[i].Key < configs[j].Key })
	shown := configs
	if !all {
		shown = slices.DeleteFunc(slices.Clone(configs), func(c kadm.Config) bool { return c.Source == kmsg.ConfigSourceDefaultConfig })
	}
	if len(shown) == 0 {
		// An empty table would read as a failure to fetch them.
		fmt.Fprintln(a.stdout, "Every config has its default value (--all-configs lists them).")
	} else {
		t = newTable(a.stdout, "CONFIG", "VALUE", "SOURCE")
		for _, c := range shown {
			t.row(c.Key, configValue(c), c.Source.String())
		}
		if err := t.flush(); err != nil {
			return err
		}
	}

	fmt.Fprintln(a.stdout)
	t = newTable(a.stdout, "PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "LOG-START-OFFSET", "HIGH-WATERMARK")
	for _, p := range d.Partitions.Sorted() {
		if p.Err != nil {
			t.row(strconv.Itoa(int(p.Partition)), status(p.Err), "", "", "", "", "")
			continue
		}
		o := offsets[p.Partition]
		t.row(strconv.Itoa(int(p.Partition)), strconv.Itoa(int(p.Leader)), strconv.Itoa(int(p.LeaderEpoch)),
			int32sString(p.Replicas), int32sString(p.ISR), strconv.FormatInt(o[0], 10), strconv.FormatInt(o[1], 10))
	}
	return t.flush()
}

func configValue(c kadm.Config) string {
	switch {
	case c.Sensitive:
		return "(sensitive)"
	case c.Value == nil:
		return "(null)"
	}
	return *c.Value
}

// brokerOwnedTopics are the topics the brokers keep their own state in.
var brokerOwnedTopics = map[string]bool{"__consumer_offsets": true, "__transaction_state": true}

func (a *app) topicDeleteCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "delete TOPIC...",
		Aliases: []string{"rm"},
		Short:   "Delete topics and all their records",
		Example: "  gregor topic delete orders\n  gregor topic delete old-1 old-2",
		Args:    minArgs(1, "TOPIC"),
		RunE: action(func(cmd *cobra.Command, topics []string) error {
			// Brokers accept it, but it throws away the cluster's own
			// state; kafka-topics.sh refuses it the same way.
			for _, name := range topics {
				if brokerOwnedTopics[name] {
					return usageErrorf("topic %q is internal: deleting it would lose the cluster's own state (every group's committed offsets)", name)
				}
			}
			return a.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				resps, err := adm.DeleteTopics(ctx, topics...)
				if err != nil {
					return a.requestError(ctx, "delete topics", err)
				}
				return a.printStatuses(topics, answers(resps, func(r kadm.DeleteTopicResponse) answer { return answer{r.Err, r.ErrMessage} }), topicStatuses)
			})
		}),
	}
}

func (a *app) topicAlterConfigCommand() *cobra.Command {
	var (
		sets    []string
		deletes []string
		dryRun  bool
	)
	cmd := &cobra.Command{
		Use:   "alter-config TOPIC... --set KEY=VALUE | --delete KEY",
		Short: "Set or reset topic configs (IncrementalAlterConfigs)",
		Example: `  gregor topic alter-config orders --set retention.ms=86400000
  gregor topic alter-config orders --delete retention.ms --set cleanup.policy=compact`,
		Args: minArgs(1, "TOPIC"),
		RunE: action(func(cmd *cobra.Command, topics []string) error {
			alters, err := alterConfigs(sets, deletes)
			if err != nil {
				return err
			}
			return a.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				alter := adm.AlterTopicConfigs
				if dryRun {
					alter = adm.ValidateAlterTopicConfigs
				}
				resps, err := alter(ctx, alters, topics...)
				if err != nil {
					return a.requestError(ctx, "alter configs", err)
				}
				return a.printAlterResults("TOPIC", topics, resps, topicError)
			})
		}),
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&sets, "set", nil, "set config KEY=VALUE (repeatable)")
	fs.StringArrayVar(&deletes, "delete", nil, "reset config KEY to its default (repeatable)")
	fs.BoolVar(&dryRun, "dry-run", false, "validate only; change nothing")
	return cmd
}

// alterConfigs builds incremental SET and DELETE operations.
func alterConfigs(sets, deletes []string) ([]kadm.AlterConfig, error) {
	kv, err := parseKeyValues("set", sets)
	if err != nil {
		return nil, err
	}
	if len(kv)+len(deletes) == 0 {
		return nil, usageErrorf("nothing to change: give --set KEY=VALUE or --delete KEY")
	}
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []kadm.AlterConfig
	for _, k := range keys {
		v := kv[k]
		out = append(out, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: &v})
	}
	for _, k := range deletes {
		if _, both := kv[k]; both {
			return nil, usageErrorf("config %q is both set and deleted", k)
		}
		out = append(out, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
	}
	return out, nil
}

func (a *app) printAlterResults(noun string, names []string, resps kadm.AlterConfigsResponses, named func(string, error) error) error {
	got := make(map[string]answer, len(resps))
	for _, r := range resps {
		got[r.Name] = answer{r.Err, r.ErrMessage}
	}
	return a.printStatuses(names, got, statusTable{
		noun:    noun,
		missing: "no answer",
		named:   named,
		label: func(name string) string {
			if name == "" { // the broker resource named "" is the cluster-wide default
				return "(cluster default)"
			}
			return name
		},
	})
}

// answer is one name's result in a per-name admin response.
type answer struct {
	err     error
	message string // the broker's ErrorMessage, if any
}

// answers indexes a per-name admin response (kadm's map of results by
// topic or group) by name.
func answers[R any](resps map[string]R, of func(R) answer) map[string]answer {
	out := make(map[string]answer, len(resps))
	for name, r := range resps {
		out[name] = of(r)
	}
	return out
}

// statusTable says how printStatuses shows one kind of per-name result.
type statusTable struct {
	noun    string                    // the first column; lowercased with an s, the summary's noun
	missing string                    // why a name the response left out failed
	named   func(string, error) error // a failure with its name, for the summary
	// cell, when set, is what the STATUS column says of a failure rather
	// than the broker's error itself.
	cell  func(failure error) error
	label func(string) string // when set, the first column for a name
}

// topicStatuses shows per-topic results: the cell drops the topic prefix of
// topicError but keeps its naming of unknown topics.
var topicStatuses = statusTable{
	noun:    "TOPIC",
	missing: "no answer for this topic",
	named:   topicError,
	cell:    unwrapTopic,
}

// printStatuses prints one NOUN/STATUS row a name, in the order given, and
// returns the failures as one error (resultsError).
func (a *app) printStatuses(names []string, got map[string]answer, st statusTable) error {
	t := newTable(a.stdout, st.noun, "STATUS")
	var failed []error
	for _, name := range names {
		r, ok := got[name]
		err := r.err
		if !ok {
			err = errors.New(st.missing)
		}
		var shown error
		if err != nil {
			shown = kafkaError(err, r.message)
			failure := st.named(name, shown)
			failed = append(failed, failure)
			if st.cell != nil {
				shown = st.cell(failure)
			}
		}
		label := name
		if st.label != nil {
			label = st.label(name)
		}
		t.row(label, status(shown))
	}
	if err := t.flush(); err != nil {
		return err
	}
	return resultsError(strings.ToLower(st.noun)+"s", len(names), failed)
}

func (a *app) topicAddPartitionsCommand() *cobra.Command {
	var add int
	cmd := &cobra.Command{
		Use:     "add-partitions TOPIC... --num N",
		Short:   "Add partitions to topics",
		Example: "  gregor topic add-partitions orders --num 3",
		Args:    minArgs(1, "TOPIC"),
		RunE: action(func(cmd *cobra.Command, topics []string) error {
			if add <= 0 {
				return usageErrorf("--num must be a positive number of partitions to add")
			}
			return a.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				resps, err := adm.CreatePartitions(ctx, add, topics...)
				if err != nil {
					return a.requestError(ctx, "create partitions", err)
				}
				return a.printStatuses(topics, answers(resps, func(r kadm.CreatePartitionsResponse) answer { return answer{r.Err, r.ErrMessage} }), topicStatuses)
			})
		}),
	}
	cmd.Flags().IntVarP(&add, "num", "n", 0, "how many partitions to add")
	return cmd
}

func (a *app) topicTrimCommand() *cobra.Command {
	var (
		offset     string
		partitions []int32
	)
	cmd := &cobra.Command{
		Use:   "trim TOPIC --offset OFFSET",
		Short: "Delete the records before an offset (DeleteRecords)",
		Long: `Delete every record before OFFSET in each partition (or those given with
-p): the partition's LogStartOffset moves up to OFFSET. OFFSET is an offset
as for consume -o: N, end, -N (keep the last N), +N or @TIME.`,
		Example: `  gregor topic trim orders --offset 1000 -p 0
  gregor topic trim orders --offset -100      # keep the last 100 records of each partition
  gregor topic trim orders --offset @-24h     # drop records older than a day
  gregor topic trim orders --offset end       # empty the topic`,
		Args: exactArgs("TOPIC"),
		RunE: action(func(cmd *cobra.Command, args []string) error {
			topic := args[0]
			if offset == "" {
				return usageErrorf("topic trim needs --offset")
			}
			point, err := parseOffsetPoint(offset, time.Now())
			if err != nil {
				return usageErrorf("--offset: %v", err)
			}
			adm, done, err := a.admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			details, err := a.ensureTopics(cmd, adm, topic)
			if err != nil {
				return err
			}
			parts, err := selectPartitions(topic, details[topic], partitions)
			if err != nil {
				return err
			}
			ctx, cancel := a.requestContext(cmd)
			defer cancel()
			resolved, err := resolveOffsets(ctx, adm, topic, parts, point)
			if err != nil {
				return a.requestError(ctx, "list offsets", err)
			}
			var os kadm.Offsets
			for _, p := range parts {
				os.Add(kadm.Offset{Topic: topic, Partition: p, At: resolved[p][0], LeaderEpoch: -1})
			}
			resps, err := adm.DeleteRecords(ctx, os)
			if err != nil {
				return a.requestError(ctx, "delete records", err)
			}
			t := newTable(a.stdout, "PARTITION", "LOG-START-OFFSET", "STATUS")
			var failed []error
			for _, p := range parts {
				r, ok := resps.Lookup(topic, p)
				err := r.Err
				if !ok {
					err = errors.New("no answer for this partition")
				}
				lso := ""
				if err == nil {
					lso = strconv.FormatInt(r.LowWatermark, 10)
				} else {
					failed = append(failed, topicError(topic, fmt.Errorf("partition %d: %w", p, err)))
				}
				t.row(strconv.Itoa(int(p)), lso, status(err))
			}
			if err := t.flush(); err != nil {
				return err
			}
			return resultsError("partitions", len(parts), failed)
		}),
	}
	cmd.Flags().StringVarP(&offset, "offset", "o", "", "delete records before this offset (see above)")
	cmd.Flags().Int32SliceVarP(&partitions, "partitions", "p", nil, "only these partitions (default: all)")
	return cmd
}

// selectPartitions checks wanted against the topic's partitions; none
// wanted means all of them.
func selectPartitions(topic string, d kadm.TopicDetail, wanted []int32) ([]int32, error) {
	all := d.Partitions.Numbers()
	if len(wanted) == 0 {
		return all, nil
	}
	seen := map[int32]bool{}
	var out []int32
	for _, p := range wanted {
		if _, ok := d.Partitions[p]; !ok {
			return nil, usageErrorf("topic %q has no partition %d (it has %d)", topic, p, len(all))
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}
