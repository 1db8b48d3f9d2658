package cli

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// pollMaxRecords bounds the records taken from kgo per poll, so output is
// written and flushed in steady steps.
const pollMaxRecords = 1000

type consumeOptions struct {
	offset        string
	num           int
	partitions    []int32
	group         string
	format        string
	json          bool
	exitAtEnd     bool
	readCommitted bool
}

func (a *app) consumeCommand() *cobra.Command {
	var o consumeOptions
	cmd := &cobra.Command{
		Use:   "consume TOPIC...",
		Short: "Print records, following new ones until interrupted",
		Long: `Print records of topics, then keep following new records until interrupted
(^C exits 0), -n records were printed, the end of an -o FROM:UNTIL range is
reached in every partition, or, with --exit-at-end, every partition is read
up to its HighWatermark of when consuming started.

Without -g, partitions are read directly and nothing is committed. With
-g GROUP, the topics are consumed as a member of the consumer group and
the offsets of printed records are committed; -o then only says where to
start in partitions the group has no committed offset for (start, end, +N,
-N or @TIME).

` + offsetHelp + `

` + formatHelp,
		Example: `  gregor consume orders
  gregor consume orders -o -10 -n 10 -f '%p@%o %k=%v\n'
  gregor consume orders -o @-1h --exit-at-end --json
  gregor consume orders -o 100:200 -p 0
  gregor consume orders -g billing`,
		Args: minArgs(1, "TOPIC"),
		RunE: action(func(cmd *cobra.Command, topics []string) error {
			return a.consume(cmd, topics, &o)
		}),
	}
	fs := cmd.Flags()
	fs.StringVarP(&o.offset, "offset", "o", "start", "where to start and optionally stop (see above)")
	fs.IntVarP(&o.num, "num", "n", 0, "exit after this many records (0: no limit)")
	fs.Int32SliceVarP(&o.partitions, "partitions", "p", nil, "only these partitions (default: all; not with -g)")
	fs.StringVarP(&o.group, "group", "g", "", "consume as a member of this consumer group, committing offsets")
	fs.StringVarP(&o.format, "format", "f", "%v\\n", "output format (see above)")
	fs.BoolVar(&o.json, "json", false, "print each record as one JSON object per line")
	fs.BoolVarP(&o.exitAtEnd, "exit-at-end", "e", false, "exit once every partition is read to its HighWatermark (not with -g)")
	fs.BoolVar(&o.readCommitted, "read-committed", false, "skip records of aborted transactions and stop at the LastStableOffset")
	a.addClientFlags(cmd)
	return cmd
}

// recordPrinter writes records as text or JSON.
type recordPrinter struct {
	out  *bufio.Writer
	text *recordFormatter // nil: JSON
}

func (p *recordPrinter) print(r *kgo.Record) error {
	if p.text != nil {
		p.text.write(p.out, r)
		return nil
	}
	line, err := json.Marshal(newJSONRecord(r))
	if err != nil {
		return err
	}
	p.out.Write(line)
	return p.out.WriteByte('\n')
}

// jsonRecord is the --json shape of a record. Keys, values and header
// values that are valid UTF-8 are strings; other bytes go in the _base64
// field instead. A null key or value is JSON null.
type jsonRecord struct {
	Topic       string          `json:"topic"`
	Partition   int32           `json:"partition"`
	Offset      int64           `json:"offset"`
	Timestamp   int64           `json:"timestamp"`
	Key         json.RawMessage `json:"key,omitempty"`
	KeyBase64   string          `json:"key_base64,omitempty"`
	Value       json.RawMessage `json:"value,omitempty"`
	ValueBase64 string          `json:"value_base64,omitempty"`
	Headers     []jsonHeader    `json:"headers"`
}

type jsonHeader struct {
	Key         string          `json:"key"`
	Value       json.RawMessage `json:"value,omitempty"`
	ValueBase64 string          `json:"value_base64,omitempty"`
}

func newJSONRecord(r *kgo.Record) jsonRecord {
	j := jsonRecord{
		Topic:     r.Topic,
		Partition: r.Partition,
		Offset:    r.Offset,
		Timestamp: r.Timestamp.UnixMilli(),
		Headers:   make([]jsonHeader, 0, len(r.Headers)),
	}
	j.Key, j.KeyBase64 = jsonBytes(r.Key)
	j.Value, j.ValueBase64 = jsonBytes(r.Value)
	for _, h := range r.Headers {
		jh := jsonHeader{Key: h.Key}
		jh.Value, jh.ValueBase64 = jsonBytes(h.Value)
		j.Headers = append(j.Headers, jh)
	}
	return j
}

func jsonBytes(b []byte) (json.RawMessage, string) {
	if b == nil {
		return json.RawMessage("null"), ""
	}
	if !utf8.Valid(b) {
		return nil, base64.StdEncoding.EncodeToString(b)
	}
	s, _ := json.Marshal(string(b)) // a string always marshals
	return s, ""
}

func (a *app) consume(cmd *cobra.Command, topics []string, o *consumeOptions) error {
	if o.num < 0 {
		return usageErrorf("-n must not be negative")
	}
	rng, err := parseOffsetRange(o.offset, time.Now())
	if err != nil {
		return usageErrorf("-o: %v", err)
	}
	printer := &recordPrinter{out: bufio.NewWriter(a.stdout)}
	if !o.json {
		if printer.text, err = newRecordFormatter(o.format); err != nil {
			return usageErrorf("--format: %v", err)
		}
	} else if cmd.Flags().Changed("format") {
		return usageErrorf("--json and --format exclude each other")
	}
	isolation := kgo.ReadUncommitted()
	if o.readCommitted {
		isolation = kgo.ReadCommitted()
	}
	if o.group != "" {
		return a.consumeGroup(cmd, topics, o, rng, printer, isolation)
	}

	adm, done, err := a.admin(cmd)
	if err != nil {
		return err
	}
	defer done()
	details, err := a.ensureTopics(cmd, adm, topics...)
	if err != nil {
		return err
	}
	plan, err := a.planDirect(cmd, adm, details, topics, o, rng)
	if err != nil {
		return err
	}
	if plan.bounded && len(plan.stop) == 0 {
		return nil // every partition is already at its stop offset
	}
	opts, _, err := a.baseOpts(cmd)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append(opts, kgo.ConsumePartitions(plan.start), kgo.FetchIsolationLevel(isolation))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	return a.pollLoop(cmd.Context(), cl, printer, o.num, plan, nil)
}

// directPlan is where each partition starts, and, when bounded, the
// exclusive offset where it stops.
type directPlan struct {
	start   map[string]map[int32]kgo.Offset
	stop    map[string]map[int32]int64 // partitions still to finish
	bounded bool
}

func (a *app) planDirect(cmd *cobra.Command, adm *kadm.Client, details kadm.TopicDetails, topics []string, o *consumeOptions, rng offsetRange) (*directPlan, error) {
	points := []offsetPoint{rng.from}
	if rng.until != nil {
		points = append(points, *rng.until)
	}
	if o.exitAtEnd {
		points = append(points, offsetPoint{kind: offsetFromEnd})
	}
	plan := &directPlan{
		start:   map[string]map[int32]kgo.Offset{},
		stop:    map[string]map[int32]int64{},
		bounded: len(points) > 1,
	}
	ctx, cancel := a.requestContext(cmd)
	defer cancel()
	for _, topic := range topics {
		parts, err := selectPartitions(topic, details[topic], o.partitions)
		if err != nil {
			return nil, err
		}
		resolved, err := resolveOffsets(ctx, adm, topic, parts, points...)
		if err != nil {
			return nil, a.requestError(ctx, "list offsets", err)
		}
		for _, p := range parts {
			offs := resolved[p]
			from := offs[0]
			if plan.bounded {
				stop := offs[1]
				for _, s := range offs[2:] {
					stop = min(stop, s)
				}
				if from >= stop {
					continue // nothing to read here
				}
				if plan.stop[topic] == nil {
					plan.stop[topic] = map[int32]int64{}
				}
				plan.stop[topic][p] = stop
			}
			if plan.start[topic] == nil {
				plan.start[topic] = map[int32]kgo.Offset{}
			}
			plan.start[topic][p] = kgo.NewOffset().At(from)
		}
	}
	return plan, nil
}

// pollLoop prints records until the context ends (exit 0: an interrupt is
// how a follow ends), num records are printed, or every partition of a
// bounded plan reached its stop. onPrinted, if set, sees each printed
// record (the group mode marks it for commit).
func (a *app) pollLoop(ctx context.Context, cl *kgo.Client, p *recordPrinter, num int, plan *directPlan, onPrinted func(*kgo.Record)) error {
	printed := 0
	defer p.out.Flush()
	for {
		want := pollMaxRecords
		if num > 0 {
			want = min(want, num-printed)
		}
		fetches := cl.PollRecords(ctx, want)
		if ctx.Err() != nil {
			return nil
		}
		if fetches.IsClientClosed() {
			return nil
		}
		var fetchErr error
		fetches.EachError(func(topic string, partition int32, err error) {
			if fetchErr == nil && !errors.Is(err, context.Canceled) {
				fetchErr = fmt.Errorf("fetch %s partition %d: %w", topic, partition, err)
			}
		})
		if fetchErr != nil {
			return fetchErr
		}
		var err error
		fetches.EachRecord(func(r *kgo.Record) {
			if err != nil || (num > 0 && printed >= num) {
				return
			}
			if plan != nil && plan.bounded {
				stop, ok := plan.stop[r.Topic][r.Partition]
				if !ok || r.Offset >= stop {
					return // past a finished partition's range
				}
				if r.Offset+1 >= stop {
					plan.finish(cl, r.Topic, r.Partition)
				}
			}
			if err = p.print(r); err == nil {
				printed++
				if onPrinted != nil {
					onPrinted(r)
				}
			}
		})
		if err != nil {
			return err
		}
		if err := p.out.Flush(); err != nil {
			return err
		}
		if num > 0 && printed >= num {
			return nil
		}
		if plan != nil && plan.bounded && len(plan.stop) == 0 {
			return nil
		}
	}
}

// finish marks a partition read to its stop and stops fetching it.
func (p *directPlan) finish(cl *kgo.Client, topic string, partition int32) {
	delete(p.stop[topic], partition)
	if len(p.stop[topic]) == 0 {
		delete(p.stop, topic)
	}
	cl.PauseFetchPartitions(map[string][]int32{topic: {partition}})
}

func (a *app) consumeGroup(cmd *cobra.Command, topics []string, o *consumeOptions, rng offsetRange, printer *recordPrinter, isolation kgo.IsolationLevel) error {
	if len(o.partitions) > 0 {
		return usageErrorf("-p does not go with -g: the group assigns partitions")
	}
	if o.exitAtEnd {
		return usageErrorf("--exit-at-end does not go with -g; use -n")
	}
	if rng.until != nil {
		return usageErrorf("-o FROM:UNTIL does not go with -g")
	}
	var reset kgo.Offset
	switch rng.from.kind {
	case offsetFromStart:
		reset = kgo.NewOffset().AtStart()
		if rng.from.delta != 0 {
			reset = reset.Relative(rng.from.delta)
		}
	case offsetFromEnd:
		reset = kgo.NewOffset().AtEnd()
		if rng.from.delta != 0 {
			reset = reset.Relative(rng.from.delta)
		}
	case offsetAtTime:
		reset = kgo.NewOffset().AfterMilli(rng.from.value)
	default:
		return usageErrorf("-o %s does not go with -g: want start, end, +N, -N or @TIME", o.offset)
	}
	cl, err := a.client(cmd,
		kgo.ConsumerGroup(o.group),
		kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(reset),
		kgo.AutoCommitMarks(), // commit exactly what was printed
		kgo.FetchIsolationLevel(isolation),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	if _, err := a.ensureTopics(cmd, newAdmin(cl, a.timeout), topics...); err != nil {
		return err
	}
	loopErr := a.pollLoop(cmd.Context(), cl, printer, o.num, nil, func(r *kgo.Record) { cl.MarkCommitRecords(r) })
	// Commit what was printed even after an interrupt, bounded by --timeout.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(cmd.Context()), a.timeout)
	defer cancel()
	if err := cl.CommitMarkedOffsets(ctx); err != nil && loopErr == nil {
		loopErr = fmt.Errorf("commit offsets of group %q: %w", o.group, err)
	}
	if err := cl.LeaveGroupContext(ctx); err != nil && loopErr == nil {
		loopErr = fmt.Errorf("leave group %q: %w", o.group, err)
	}
	return loopErr
}
