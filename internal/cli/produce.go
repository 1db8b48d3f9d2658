package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gregor-log/gregor/internal/perf"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
)

// defaultMaxRecordBytes bounds one input record, like the broker's
// message.max.bytes default.
const defaultMaxRecordBytes = 1 << 20

// maxBufferedBytes bounds what one producer holds before the cluster
// acknowledges it; Produce blocks beyond it.
const maxBufferedBytes = 64 << 20

type produceOptions struct {
	format         string
	file           string
	key            string
	headers        []string
	acks           string
	compression    string
	partition      int32
	idempotent     bool
	printOffsets   bool
	tombstone      bool
	maxRecordBytes int
}

func (a *app) produceCommand() *cobra.Command {
	var o produceOptions
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Produce records read from stdin or a file",
		Long: `Produce one record per line of stdin (or --file). With -f, a format string
says how each record is written: every directive reads up to the text that
follows it, and a format that ends with a directive ends at the newline.
An empty key field means a null key.

` + formatHelp + `

Headers can also be given for every record with -H name=value.`,
		Example: `  echo hello | gregor produce orders
  printf 'k1 v1\nk2 v2\n' | gregor produce orders -f '%k %v'
  gregor produce orders -f '%h{trace-id};%k;%v' --file input.txt
  gregor produce orders -f '%T %v' --acks 1 -z zstd --print-offsets`,
		Args: exactArgs("TOPIC"),
		RunE: action(func(cmd *cobra.Command, args []string) error {
			return a.produce(cmd, args[0], &o)
		}),
	}
	fs := cmd.Flags()
	fs.StringVarP(&o.format, "format", "f", "%v\\n", "input format (see above)")
	fs.StringVar(&o.file, "file", "", "read records from this file instead of stdin")
	fs.StringVarP(&o.key, "key", "k", "", "key for every record (when the format has no %k)")
	fs.StringArrayVarP(&o.headers, "header", "H", nil, "header name=value added to every record (repeatable)")
	fs.StringVar(&o.acks, "acks", "all", "acks: all (-1), 1 (leader only) or 0 (none)")
	fs.StringVarP(&o.compression, "compression", "z", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
	fs.Int32VarP(&o.partition, "partition", "p", -1, "produce to this partition (-1: by key hash, or sticky for null keys)")
	fs.BoolVar(&o.idempotent, "idempotent", true, "idempotent producer (needs --acks all)")
	fs.BoolVar(&o.printOffsets, "print-offsets", false, "print partition@offset for each record as it is acknowledged")
	fs.BoolVar(&o.tombstone, "tombstone", false, "an empty value means a null value (a tombstone for compacted topics)")
	fs.IntVar(&o.maxRecordBytes, "max-record-bytes", defaultMaxRecordBytes, "bound on the size of one input record")
	a.addClientFlags(cmd)
	return cmd
}

// producerOpts turns the flags into kgo options.
func producerOpts(cmd *cobra.Command, o *produceOptions, topic string) ([]kgo.Opt, error) {
	opts := []kgo.Opt{
		kgo.DefaultProduceTopic(topic),
		// kgo bounds buffered records by count (10000) only; with records
		// up to --max-record-bytes that could be gigabytes.
		kgo.MaxBufferedBytes(maxBufferedBytes),
	}
	var acks kgo.Acks
	switch o.acks {
	case "all", "-1":
		acks = kgo.AllISRAcks()
	case "1":
		acks = kgo.LeaderAck()
	case "0":
		acks = kgo.NoAck()
	default:
		return nil, usageErrorf("--acks %q: want all, 1 or 0", o.acks)
	}
	opts = append(opts, kgo.RequiredAcks(acks))
	if o.acks != "all" && o.acks != "-1" {
		if o.idempotent && cmd.Flags().Changed("idempotent") {
			return nil, usageErrorf("--idempotent needs --acks all")
		}
		o.idempotent = false
	}
	if !o.idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	codec, err := perf.ParseCompression(o.compression)
	if err != nil {
		return nil, perfUsage(err)
	}
	opts = append(opts, kgo.ProducerBatchCompression(codec))
	return opts, nil
}

func (a *app) produce(cmd *cobra.Command, topic string, o *produceOptions) error {
	headers, err := parseHeaders(o.headers)
	if err != nil {
		return err
	}
	if o.maxRecordBytes <= 0 {
		return usageErrorf("--max-record-bytes must be positive")
	}
	opts, err := producerOpts(cmd, o, topic)
	if err != nil {
		return err
	}
	in := a.stdin
	if o.file != "" {
		f, err := os.Open(o.file)
		if err != nil {
			return usageErrorf("--file: %v", err)
		}
		defer f.Close()
		in = f
	}
	rr, err := newRecordReader(o.format, in, o.maxRecordBytes)
	if err != nil {
		return usageErrorf("--format: %v", err)
	}
	if o.partition >= 0 || rr.has(dirPartition) {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	if !rr.has(dirTimestamp) {
		// kgo measures delivery time from the record's timestamp, so a
		// record with an old timestamp from the input would time out at
		// once; those rely on the bounded flush below instead.
		opts = append(opts, kgo.RecordDeliveryTimeout(a.timeout))
	}
	cl, err := a.client(cmd, opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := newAdmin(cl, a.timeout)
	details, err := a.ensureTopics(cmd, adm, topic)
	if err != nil {
		return err
	}
	numPartitions := int32(len(details[topic].Partitions))
	if o.partition >= numPartitions {
		return usageErrorf("topic %q has no partition %d (it has %d)", topic, o.partition, numPartitions)
	}

	ctx, cancel := context.WithCancelCause(cmd.Context())
	defer cancel(nil)
	out := bufio.NewWriter(a.stdout)
	var mu sync.Mutex // guards out and firstErr: promises run on kgo's goroutines
	var firstErr error
	var acked atomic.Int64 // completed records, the progress flush watches
	promise := func(r *kgo.Record, err error) {
		acked.Add(1)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("produce to %s partition %d: %w", topic, r.Partition, err)
				cancel(firstErr) // stop reading: the run has failed
			}
			return
		}
		if o.printOffsets {
			fmt.Fprintf(out, "%d@%d\n", r.Partition, r.Offset)
		}
	}

	records := readRecords(ctx, rr)
loop:
	for {
		var item readItem
		select {
		case it, ok := <-records:
			if !ok {
				break loop
			}
			item = it
		case <-ctx.Done():
			break loop
		}
		if item.err != nil {
			cancel(item.err)
			break loop
		}
		r := item.record
		if r.Key == nil && o.key != "" {
			r.Key = []byte(o.key)
		}
		if len(r.Value) == 0 && o.tombstone {
			r.Value = nil
		}
		r.Headers = append(r.Headers, headers...)
		if r.Partition < 0 {
			r.Partition = max(o.partition, 0) // only read with the manual partitioner
		} else if r.Partition >= numPartitions {
			cancel(fmt.Errorf("input record %d: topic %q has no partition %d", rr.n, topic, r.Partition))
			break loop
		}
		cl.Produce(ctx, r, promise)
	}
	// Flush even after a failure, so what was acknowledged gets printed.
	flushErr := a.flush(ctx, cl, &acked)
	mu.Lock()
	defer mu.Unlock()
	if err := out.Flush(); err != nil {
		return err
	}
	if cause := context.Cause(ctx); cause != nil {
		if errors.Is(cause, context.Canceled) && cmd.Context().Err() != nil {
			return cmd.Context().Err()
		}
		return cause
	}
	return flushErr
}

// flush waits for every record handed to kgo, for as long as records keep
// completing: it fails only when --timeout passes with no progress, which
// bounds a dead cluster without cutting short a slow but moving one.
func (a *app) flush(ctx context.Context, cl *kgo.Client, completed *atomic.Int64) error {
	base := context.WithoutCancel(ctx)
	for {
		last := completed.Load()
		fctx, cancel := context.WithTimeout(base, a.timeout)
		err := cl.Flush(fctx)
		cancel()
		if err == nil {
			return nil
		}
		if completed.Load() == last {
			return fmt.Errorf("produce: no acknowledgment within %v (see --timeout)", a.timeout)
		}
	}
}

type readItem struct {
	record *kgo.Record
	err    error
}

// readRecords parses input on its own goroutine, so that an interrupt is
// seen even while a read from a terminal blocks. The channel holds one
// record: kgo's own buffer (MaxBufferedRecords) bounds what is in flight.
func readRecords(ctx context.Context, rr *recordReader) <-chan readItem {
	ch := make(chan readItem, 1)
	go func() {
		defer close(ch)
		for {
			r, err := rr.next()
			if err == io.EOF {
				return
			}
			select {
			case ch <- readItem{record: r, err: err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return ch
}

func parseHeaders(hs []string) ([]kgo.RecordHeader, error) {
	var out []kgo.RecordHeader
	for _, h := range hs {
		k, v, ok := strings.Cut(h, "=")
		if !ok || k == "" {
			return nil, usageErrorf("--header %q: want name=value", h)
		}
		out = append(out, kgo.RecordHeader{Key: k, Value: []byte(v)})
	}
	return out, nil
}
