package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/gregor-log/gregor/internal/bench"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func (a *app) benchCommand() *cobra.Command {
	cmd := newGroup("bench", "Generate load and measure throughput and latency",
		"  gregor bench produce bench -n 1000000 -s 100\n  gregor bench consume bench",
		a.benchProduceCommand(),
		a.benchConsumeCommand(),
	)
	a.addClientFlags(cmd)
	return cmd
}

type benchProduceOptions struct {
	recordBytes   int
	records       int64
	duration      time.Duration
	rate          int
	acks          string
	compression   string
	partitions    int32
	producers     int
	linger        time.Duration
	batchMaxBytes int32
	idempotent    bool
	json          bool
}

func (a *app) benchProduceCommand() *cobra.Command {
	var o benchProduceOptions
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Produce fixed-size records as fast as possible (or at --rate) and measure",
		Long: `Produce records of --record-size bytes from --producers clients, for
--records records or --duration, and print records/s, MB/s (values only,
10^6 bytes) and the produce latency (Produce call to acknowledgment)
percentiles. The topic is created with --partitions if it does not exist.`,
		Example: `  gregor bench produce bench -n 1000000 -s 100
  gregor bench produce bench -d 30s -s 1024 --producers 4 --acks 1 -z lz4
  gregor bench produce bench -d 10s --rate 5000 --json`,
		Args: exactArgs("TOPIC"),
		RunE: action(func(cmd *cobra.Command, args []string) error {
			return a.benchProduce(cmd, args[0], &o)
		}),
	}
	fs := cmd.Flags()
	fs.IntVarP(&o.recordBytes, "record-size", "s", 100, "value size of each record in bytes")
	fs.Int64VarP(&o.records, "records", "n", 0, "records to produce over all producers (default 1000000 without --duration)")
	fs.DurationVarP(&o.duration, "duration", "d", 0, "produce for this long")
	fs.IntVar(&o.rate, "rate", 0, "records/s over all producers (0: as fast as possible)")
	fs.StringVar(&o.acks, "acks", "all", "acks: all, 1 or 0")
	fs.StringVarP(&o.compression, "compression", "z", "none", "none, gzip, snappy, lz4 or zstd")
	fs.Int32VarP(&o.partitions, "partitions", "p", 6, "partitions of the topic when it is created")
	fs.IntVar(&o.producers, "producers", 1, "concurrent producers (one client each)")
	fs.DurationVar(&o.linger, "linger", 0, "producer linger before sending a batch")
	fs.Int32Var(&o.batchMaxBytes, "batch-max-bytes", 1000012, "largest record batch a producer builds")
	fs.BoolVar(&o.idempotent, "idempotent", true, "idempotent producers (needs --acks all)")
	fs.BoolVar(&o.json, "json", false, "print the result as JSON")
	return cmd
}

func (a *app) benchProduce(cmd *cobra.Command, topic string, o *benchProduceOptions) error {
	if o.records == 0 && o.duration == 0 {
		o.records = 1_000_000
	}
	if o.records < 0 || o.duration < 0 || o.recordBytes < 0 || o.producers <= 0 || o.rate < 0 || o.partitions <= 0 {
		return usageErrorf("--records, --duration, --record-size and --rate must not be negative; --producers and --partitions must be positive")
	}
	po := produceOptions{acks: o.acks, compression: o.compression, idempotent: o.idempotent}
	popts, err := producerOpts(cmd, &po, topic)
	if err != nil {
		return err
	}
	base, _, err := a.baseOpts(cmd)
	if err != nil {
		return err
	}
	adm, done, err := a.admin(cmd)
	if err != nil {
		return err
	}
	defer done()
	if err := a.ensureBenchTopic(cmd, adm, topic, o.partitions); err != nil {
		return err
	}
	opts := append(append(base, popts...),
		kgo.ProducerLinger(o.linger),
		kgo.ProducerBatchMaxBytes(o.batchMaxBytes),
	)
	res, err := bench.RunProduce(cmd.Context(), bench.ProduceConfig{
		Topic:       topic,
		RecordBytes: o.recordBytes,
		Records:     o.records,
		Duration:    o.duration,
		Rate:        o.rate,
		Producers:   o.producers,
		ClientOpts:  opts,
	})
	if err != nil && cmd.Context().Err() == nil {
		return err
	}
	return a.printBench(res, o.json, true)
}

// ensureBenchTopic creates the topic unless it exists.
func (a *app) ensureBenchTopic(cmd *cobra.Command, adm *kadm.Client, topic string, partitions int32) error {
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

type benchConsumeOptions struct {
	records   int64
	duration  time.Duration
	consumers int
	json      bool
}

func (a *app) benchConsumeCommand() *cobra.Command {
	var o benchConsumeOptions
	cmd := &cobra.Command{
		Use:   "consume TOPIC",
		Short: "Consume a topic from its start as fast as possible and measure",
		Long: `Read the topic from its start with --consumers clients (partitions dealt
out among them) and print records/s, MB/s (values only, 10^6 bytes) and the
age of records when read (their timestamp to now) as latency percentiles:
meaningful as end-to-end latency when a producer runs at the same time.
Without --records or --duration, the run ends at the HighWatermarks of
when it started.`,
		Example: `  gregor bench consume bench
  gregor bench consume bench --consumers 3 -n 5000000
  gregor bench consume bench -d 30s --json`,
		Args: exactArgs("TOPIC"),
		RunE: action(func(cmd *cobra.Command, args []string) error {
			topic := args[0]
			if o.records < 0 || o.duration < 0 || o.consumers <= 0 {
				return usageErrorf("--records and --duration must not be negative; --consumers must be positive")
			}
			base, _, err := a.baseOpts(cmd)
			if err != nil {
				return err
			}
			adm, done, err := a.admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			if _, err := a.ensureTopics(cmd, adm, topic); err != nil {
				return err
			}
			res, err := bench.RunConsume(cmd.Context(), bench.ConsumeConfig{
				Topic:      topic,
				Records:    o.records,
				Duration:   o.duration,
				Consumers:  o.consumers,
				ClientOpts: base,
			})
			if err != nil && cmd.Context().Err() == nil {
				return err
			}
			return a.printBench(res, o.json, false)
		}),
	}
	fs := cmd.Flags()
	fs.Int64VarP(&o.records, "records", "n", 0, "stop after this many records")
	fs.DurationVarP(&o.duration, "duration", "d", 0, "stop after this long")
	fs.IntVar(&o.consumers, "consumers", 1, "concurrent consumers (one client each)")
	fs.BoolVar(&o.json, "json", false, "print the result as JSON")
	return cmd
}

// benchJSON is the --json shape of a result; durations in milliseconds.
type benchJSON struct {
	Records       int64   `json:"records"`
	Bytes         int64   `json:"bytes"`
	Errors        int64   `json:"errors"`
	ElapsedMs     float64 `json:"elapsed_ms"`
	RecordsPerSec float64 `json:"records_per_sec"`
	MBPerSec      float64 `json:"mb_per_sec"`
	LatencyMs     struct {
		P50  float64 `json:"p50"`
		P99  float64 `json:"p99"`
		P999 float64 `json:"p99_9"`
		Max  float64 `json:"max"`
	} `json:"latency_ms"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (a *app) printBench(res bench.Result, asJSON, produce bool) error {
	h := res.Latency
	if h == nil {
		h = &bench.Histogram{}
	}
	if asJSON {
		var j benchJSON
		j.Records, j.Bytes, j.Errors = res.Records, res.Bytes, res.Errors
		j.ElapsedMs, j.RecordsPerSec, j.MBPerSec = ms(res.Elapsed), res.RecordsPerSec(), res.MBPerSec()
		j.LatencyMs.P50, j.LatencyMs.P99, j.LatencyMs.P999, j.LatencyMs.Max = ms(h.Quantile(0.5)), ms(h.Quantile(0.99)), ms(h.Quantile(0.999)), ms(h.Max())
		b, err := json.Marshal(j)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(a.stdout, "%s\n", b)
		return err
	}
	latency := "LATENCY"
	if !produce {
		latency = "RECORD-AGE"
	}
	t := newTable(a.stdout)
	t.row("RECORDS", strconv.FormatInt(res.Records, 10))
	t.row("BYTES", strconv.FormatInt(res.Bytes, 10))
	t.row("ELAPSED", res.Elapsed.Round(time.Millisecond).String())
	t.row("RECORDS/S", strconv.FormatFloat(res.RecordsPerSec(), 'f', 0, 64))
	t.row("MB/S", strconv.FormatFloat(res.MBPerSec(), 'f', 2, 64))
	t.row(latency+"-P50", roundDuration(h.Quantile(0.5)))
	t.row(latency+"-P99", roundDuration(h.Quantile(0.99)))
	t.row(latency+"-P99.9", roundDuration(h.Quantile(0.999)))
	t.row(latency+"-MAX", roundDuration(h.Max()))
	if produce {
		t.row("ERRORS", strconv.FormatInt(res.Errors, 10))
	}
	return t.flush()
}

// roundDuration keeps three significant digits or so.
func roundDuration(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}
