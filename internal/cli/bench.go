package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/gregor-log/gregor/internal/perf"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The bench commands are a thin layer over internal/perf, the project's one
// load generator: perf owns the options, their flags, their validation and
// the measurements; this file resolves the brokers and --timeout as every
// client command does, creates the topic with the CLI's admin client (so an
// unreachable cluster is one line after --timeout, and the replication
// factor is the broker's default), and prints perf's one-line summary.

func (a *app) benchCommand() *cobra.Command {
	return newGroup("bench", "Generate load and measure throughput and latency",
		`  gregor bench produce bench -n 1000000 -s 100
  gregor bench consume bench
  gregor bench e2e --rate 1000 -d 10s
  gregor bench compare --quick > report.md`,
		a.benchProduceCommand(),
		a.benchConsumeCommand(),
		a.benchE2ECommand(),
		a.benchCompareCommand(),
		a.benchPartitionsCommand(),
	)
}

// benchShorthands are the one-letter forms of perf's flags, those of
// `gregor produce` and kafka-producer-perf-test habits.
var benchShorthands = map[string]string{
	"records":     "n",
	"duration":    "d",
	"record-size": "s",
	"partitions":  "p",
	"compression": "z",
}

// benchFlags adds the flags register binds (perf's, so every entry point
// shares names, defaults and help) to cmd, with benchShorthands.
func benchFlags(cmd *cobra.Command, register func(*pflag.FlagSet)) {
	perfFlags := pflag.NewFlagSet(cmd.Name(), pflag.ContinueOnError)
	register(perfFlags)
	perfFlags.VisitAll(func(f *pflag.Flag) {
		f.Shorthand = benchShorthands[f.Name]
		cmd.Flags().AddFlag(f)
	})
}

// benchTopicArgs accepts the topic as an optional argument, the form of
// the other client commands, in place of --topic.
func benchTopicArgs(topic *string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) > 1:
			return usageErrorf("%s wants at most 1 argument (TOPIC), got %d", cmd.CommandPath(), len(args))
		case len(args) == 1 && cmd.Flags().Changed("topic"):
			return usageErrorf("give the topic as an argument or with --topic, not both")
		case len(args) == 1:
			*topic = args[0]
		}
		return nil
	}
}

// perfUsage turns perf's option errors into usage errors (exit 2),
// without perf's package prefix.
func perfUsage(err error) error {
	if errors.Is(err, perf.ErrInvalidOptions) {
		return usageErrorf("%s", strings.TrimSuffix(err.Error(), ": "+perf.ErrInvalidOptions.Error()))
	}
	return err
}

// benchTopic creates the topic with partitions unless it exists, or with
// partitions 0 checks that it exists.
func (a *app) benchTopic(cmd *cobra.Command, adm *kadm.Client, topic string, partitions int32) error {
	if partitions == 0 {
		_, err := a.ensureTopics(cmd, adm, topic)
		return err
	}
	ctx, cancel := a.requestContext(cmd)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, partitions, -1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return a.requestError(ctx, "create topic", topicError(topic, kafkaError(err, resp.ErrMessage)))
	}
	return nil
}

// benchResult prints what a run measured. A run cut short by an interrupt
// still prints what it measured up to then, and succeeds.
func (a *app) benchResult(cmd *cobra.Command, res perf.Result, err error) error {
	if err != nil && cmd.Context().Err() == nil {
		return err
	}
	_, err = fmt.Fprintln(a.stdout, res)
	return err
}

func (a *app) benchProduceCommand() *cobra.Command {
	o := perf.DefaultProduceOptions()
	cmd := &cobra.Command{
		Use:   "produce [TOPIC]",
		Short: "Produce fixed-size records as fast as possible (or at --rate) and measure",
		Long: `Produce --records records (or for --duration) of --record-size bytes from
--producers clients and print one line: records/s, MB/s (MiB of values per
second, as Kafka's perf tools) and the produce latency (send to
acknowledgement): average, max, p50, p99 and p99.9. The topic is created
with --partitions (replication: the broker's default) unless it exists.`,
		Example: `  gregor bench produce bench -n 1000000 -s 100
  gregor bench produce bench -d 30s -s 1024 --producers 4 --acks 1 --idempotent=false -z lz4
  gregor bench produce bench -d 10s --rate 5000`,
		Args: benchTopicArgs(&o.Topic),
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			return a.benchLoad(cmd, &o.Brokers, &o.ClientOpts, o.Topic, &o.Partitions,
				func() error { return o.Validate() },
				func(ctx context.Context) (perf.Result, error) { return perf.Produce(ctx, o) })
		}),
	}
	benchFlags(cmd, func(fs *pflag.FlagSet) { perf.RegisterProduceFlags(fs, &o) })
	a.addClientFlags(cmd)
	return cmd
}

func (a *app) benchConsumeCommand() *cobra.Command {
	var o perf.ConsumeOptions
	o.Topic = perf.DefaultProduceOptions().Topic
	cmd := &cobra.Command{
		Use:   "consume [TOPIC]",
		Short: "Consume a topic from its start as fast as possible and measure",
		Long: `Read every partition of the topic from its start with one client and
print one line: records/s and MB/s (MiB of values per second). Without
--records or --duration, the run ends at the HighWatermarks of when it
started: run bench produce first.`,
		Example: `  gregor bench consume bench
  gregor bench consume bench -n 5000000
  gregor bench consume bench -d 30s --fetch-max-partition-bytes 4194304
  gregor bench consume bench --fetch-stats`,
		Args: benchTopicArgs(&o.Topic),
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			adm, done, err := a.benchClient(cmd, &o.Brokers, &o.ClientOpts, func() error {
				v := o
				if v.Records == 0 && v.Duration == 0 {
					v.Records = 1 // until the HighWatermarks, counted below
				}
				return v.Validate()
			})
			if err != nil {
				return err
			}
			defer done()
			if _, err := a.ensureTopics(cmd, adm, o.Topic); err != nil {
				return err
			}
			if o.Records == 0 && o.Duration == 0 {
				if o.Records, err = a.benchBacklog(cmd, adm, o.Topic); err != nil {
					return err
				}
				if o.Records == 0 {
					return a.benchResult(cmd, perf.Result{}, nil)
				}
			}
			res, err := perf.Consume(cmd.Context(), o)
			return a.benchResult(cmd, res, err)
		}),
	}
	benchFlags(cmd, func(fs *pflag.FlagSet) { perf.RegisterConsumeFlags(fs, &o) })
	a.addClientFlags(cmd)
	return cmd
}

// benchBacklog is the number of records in topic now: the sum over its
// partitions of HighWatermark minus LogStartOffset.
func (a *app) benchBacklog(cmd *cobra.Command, adm *kadm.Client, topic string) (int64, error) {
	ctx, cancel := a.requestContext(cmd)
	defer cancel()
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return 0, a.requestError(ctx, "list offsets", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return 0, a.requestError(ctx, "list offsets", err)
	}
	if err := starts.Error(); err != nil {
		return 0, topicError(topic, err)
	}
	if err := ends.Error(); err != nil {
		return 0, topicError(topic, err)
	}
	var n int64
	ends.Each(func(end kadm.ListedOffset) {
		if start, ok := starts.Lookup(topic, end.Partition); ok && end.Offset > start.Offset {
			n += end.Offset - start.Offset
		}
	})
	return n, nil
}

func (a *app) benchE2ECommand() *cobra.Command {
	o := perf.DefaultE2EOptions()
	cmd := &cobra.Command{
		Use:   "e2e [TOPIC]",
		Short: "Produce at a fixed rate while consuming and measure end-to-end latency",
		Long: `One producer sends --rate records/s while one consumer reads the same
topic; every record carries its send time, and the latency is from the
producer's send to the consumer receiving it (one process, one clock).
Prints one line: records/s, MB/s and the latency average, max, p50, p99
and p99.9 of the measured records (--warmup records are left out). The
topic is created with --partitions unless it exists.`,
		Example: `  gregor bench e2e
  gregor bench e2e --rate 1000 -d 10s -s 100
  gregor bench e2e latency -n 20000 --rate 5000 --acks 1 --idempotent=false`,
		Args: benchTopicArgs(&o.Topic),
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			return a.benchLoad(cmd, &o.Brokers, &o.ClientOpts, o.Topic, &o.Partitions,
				func() error { return o.Validate() },
				func(ctx context.Context) (perf.Result, error) { return perf.EndToEnd(ctx, o) })
		}),
	}
	benchFlags(cmd, func(fs *pflag.FlagSet) { perf.RegisterE2EFlags(fs, &o) })
	a.addClientFlags(cmd)
	return cmd
}

// benchLoad is the body of produce and e2e: the options checked, the topic
// created with the CLI's admin client and timeouts (partitions is then
// zeroed so that perf does not create it again), and run measured.
func (a *app) benchLoad(cmd *cobra.Command, brokers *[]string, clientOpts *[]kgo.Opt, topic string, partitions *int32,
	validate func() error, run func(context.Context) (perf.Result, error)) error {
	adm, done, err := a.benchClient(cmd, brokers, clientOpts, validate)
	if err != nil {
		return err
	}
	defer done()
	if err := a.benchTopic(cmd, adm, topic, *partitions); err != nil {
		return err
	}
	*partitions = 0
	res, err := run(cmd.Context())
	return a.benchResult(cmd, res, err)
}

// benchClient resolves the brokers and client options of a bench command
// into perf's fields, checks the options with validate (bad usage is
// reported before any network traffic), and connects the CLI's admin
// client, which fails within --timeout on an unreachable cluster.
func (a *app) benchClient(cmd *cobra.Command, brokers *[]string, clientOpts *[]kgo.Opt, validate func() error) (*kadm.Client, func(), error) {
	base, seeds, err := a.baseOpts(cmd)
	if err != nil {
		return nil, nil, err
	}
	*brokers, *clientOpts = seeds, base
	if err := validate(); err != nil {
		return nil, nil, perfUsage(err)
	}
	return a.admin(cmd)
}

func (a *app) benchCompareCommand() *cobra.Command {
	var o perf.CompareOptions
	cmd := &cobra.Command{
		Use:   "compare",
		Short: "Benchmark this gregor against NATS JetStream, kfake and the machine's limits",
		Long: `Run every workload (produce, consume, produce while consuming, end-to-end
latency, and the machine's own fsync and loopback limits) against Gregor
in durable and page-cache mode, a 3-node Gregor cluster (rf=3,
min.insync.replicas=2), NATS JetStream and kfake, one peer at a time on
loopback ports and temporary directories, at least three times
each, and print a markdown report of the medians, the ratios between peers
and the performance targets met or missed. Progress goes to stderr.

The Gregor measured is this executable, started as "gregor serve"
subprocesses; --gregor names another binary, and --source-dir alone builds
one from a checkout. NATS runs when nats-server is on PATH (or given with
--nats-server); without it the report says it was skipped. The default run
takes 5 to 15 minutes on 2 cores, --quick a few.`,
		Example: `  gregor bench compare > report.md
  gregor bench compare --quick --peers gregor-pagecache,kfake
  gregor bench compare --workloads produce,consume --sizes 1024 --partitions 1 --work-dir /data/bench`,
		Args: cobra.NoArgs,
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("gregor") && !cmd.Flags().Changed("source-dir") {
				exe, err := os.Executable()
				if err != nil {
					return fmt.Errorf("find this executable: %w (give --gregor)", err)
				}
				o.GregorBinary = exe
			}
			if err := o.Validate(); err != nil {
				return perfUsage(err)
			}
			o.Command = compareCommand(cmd)
			o.Progress = a.stderr
			return perf.Compare(cmd.Context(), o, a.stdout)
		}),
	}
	perf.RegisterCompareFlags(cmd.Flags(), &o)
	cmd.Flags().Lookup("gregor").Usage = "gregor binary to benchmark (default: this executable)"
	cmd.Flags().Lookup("source-dir").Usage = "build gregor from this module root (go build ./cmd/gregor) instead of running this executable"
	return cmd
}

// compareCommand is the line that reproduces this compare run, for the
// report: the command path and the flags given, in a stable order.
func compareCommand(cmd *cobra.Command) string {
	words := strings.Fields(cmd.CommandPath())
	cmd.Flags().Visit(func(f *pflag.Flag) {
		v := f.Value.String()
		if s, ok := f.Value.(pflag.SliceValue); ok {
			v = strings.Join(s.GetSlice(), ",")
		}
		if f.Value.Type() == "bool" && v == "true" {
			words = append(words, "--"+f.Name)
			return
		}
		words = append(words, "--"+f.Name+"="+v)
	})
	return perf.CommandLine(words...)
}

func (a *app) benchPartitionsCommand() *cobra.Command {
	o := perf.DefaultPartitionsOptions()
	cmd := &cobra.Command{
		Use:   "partitions",
		Short: "Measure a whole broker's start-up and memory with many idle partitions",
		Long: `Start this gregor as a "gregor serve" subprocess on a loopback port and a
temporary data directory, create --topics topics of --partitions-per-topic
partitions (replication factor 1), write --records-per-partition records of
100 bytes to each, then restart the broker twice over the same data: after
a clean shutdown (SIGTERM) and after kill -9. For each start-up it prints
the time from exec until the listener answers and until Metadata answers
with a leader for every partition, and the broker's resident memory
(VmRSS) when ready and after --idle, and its peak (VmHWM).`,
		Example: `  gregor bench partitions
  gregor bench partitions --topics 100 --partitions-per-topic 100 --work-dir /data/bench`,
		Args: cobra.NoArgs,
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			if o.GregorBinary == "" {
				exe, err := os.Executable()
				if err != nil {
					return fmt.Errorf("find this executable: %w (give --gregor)", err)
				}
				o.GregorBinary = exe
			}
			if err := o.Validate(); err != nil {
				return perfUsage(err)
			}
			o.Progress = a.stderr
			res, err := perf.Partitions(cmd.Context(), o)
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(a.stdout, res)
			return err
		}),
	}
	fs := cmd.Flags()
	fs.StringVar(&o.GregorBinary, "gregor", "", "gregor binary to measure (default: this executable)")
	fs.StringVar(&o.WorkDir, "work-dir", "", "directory for the data; put it on the disk under test (default: the system temporary directory)")
	fs.IntVar(&o.Topics, "topics", o.Topics, "topics to create")
	fs.Int32Var(&o.PartitionsPerTopic, "partitions-per-topic", o.PartitionsPerTopic, "partitions of each topic")
	fs.IntVar(&o.RecordsPerPartition, "records-per-partition", o.RecordsPerPartition, "100-byte records written to each partition before the restarts")
	fs.BoolVar(&o.PageCache, "page-cache", o.PageCache, "run the broker in page cache mode (default: durable)")
	fs.DurationVar(&o.Idle, "idle", o.Idle, "how long the restarted broker idles before its memory is read")
	fs.DurationVar(&o.ReadyTimeout, "ready-timeout", o.ReadyTimeout, "longest wait for each start-up")
	return cmd
}
