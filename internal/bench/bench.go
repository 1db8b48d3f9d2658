package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Result is what a run measured.
type Result struct {
	Records int64         // records produced (acknowledged) or consumed
	Bytes   int64         // their value bytes
	Errors  int64         // records that failed (produce)
	Elapsed time.Duration // from the first record sent or read to the last
	Latency *Histogram
}

// RecordsPerSec is the throughput in records.
func (r Result) RecordsPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Records) / r.Elapsed.Seconds()
}

// MBPerSec is the throughput in MB (10^6 bytes) of values per second.
func (r Result) MBPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Bytes) / 1e6 / r.Elapsed.Seconds()
}

// ProduceConfig describes a produce run. Records or Duration (or both)
// bound it.
type ProduceConfig struct {
	Topic       string
	RecordBytes int           // value size of each record
	Records     int64         // total over all producers; 0: until Duration
	Duration    time.Duration // 0: until Records
	Rate        int           // records/s over all producers; 0: as fast as possible
	Producers   int           // kgo clients, each producing Records/Producers
	// ClientOpts are given to every producer's kgo client: seed brokers,
	// acks, compression, linger, batch size.
	ClientOpts []kgo.Opt
}

func (c *ProduceConfig) validate() error {
	switch {
	case c.Topic == "":
		return errors.New("bench: no topic")
	case c.RecordBytes < 0:
		return errors.New("bench: negative record size")
	case c.Records <= 0 && c.Duration <= 0:
		return errors.New("bench: give a record count or a duration")
	case c.Producers <= 0:
		return errors.New("bench: producers must be positive")
	case c.Rate < 0:
		return errors.New("bench: negative rate")
	}
	return nil
}

// RunProduce produces as configured and returns the measurements. The
// first produce error stops the run and is returned with what was measured
// up to then.
func RunProduce(ctx context.Context, cfg ProduceConfig) (Result, error) {
	if err := cfg.validate(); err != nil {
		return Result{}, err
	}
	clients := make([]*kgo.Client, cfg.Producers)
	for i := range clients {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.DefaultProduceTopic(cfg.Topic)}, cfg.ClientOpts...)...)
		if err != nil {
			for _, c := range clients[:i] {
				c.Close()
			}
			return Result{}, err
		}
		clients[i] = cl
	}
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if cfg.Duration > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeoutCause(ctx, cfg.Duration, errDurationOver)
		defer stop()
	}
	value := make([]byte, cfg.RecordBytes) // shared: kgo only reads values
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	var (
		acked, bytes, failed atomic.Int64
		hist                 = &Histogram{}
		wg                   sync.WaitGroup
	)
	start := time.Now()
	var last atomic.Int64 // UnixNano of the last acknowledgment
	for i, cl := range clients {
		n := int64(0)
		if cfg.Records > 0 {
			n = cfg.Records / int64(cfg.Producers)
			if int64(i) < cfg.Records%int64(cfg.Producers) {
				n++
			}
		}
		var perProducerRate float64
		if cfg.Rate > 0 {
			perProducerRate = float64(cfg.Rate) / float64(cfg.Producers)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sent := int64(0); n == 0 || sent < n; sent++ {
				if perProducerRate > 0 {
					// Pace to the schedule, not to the last send, so that a
					// slow moment is caught up and the mean rate holds.
					due := start.Add(time.Duration(float64(sent) / perProducerRate * float64(time.Second)))
					if wait := time.Until(due); wait > 0 {
						select {
						case <-time.After(wait):
						case <-ctx.Done():
							return
						}
					}
				}
				if ctx.Err() != nil {
					return
				}
				sentAt := time.Now()
				cl.Produce(ctx, &kgo.Record{Value: value}, func(r *kgo.Record, err error) {
					if err != nil {
						if ctx.Err() == nil || !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
							failed.Add(1)
							cancel(fmt.Errorf("bench: produce: %w", err))
						}
						return
					}
					now := time.Now()
					hist.Record(now.Sub(sentAt))
					acked.Add(1)
					bytes.Add(int64(len(r.Value)))
					last.Store(now.UnixNano())
				})
			}
		}()
	}
	wg.Wait()
	for _, cl := range clients {
		if err := cl.Flush(context.WithoutCancel(ctx)); err != nil && context.Cause(ctx) == nil {
			cancel(err)
		}
	}
	res := Result{Records: acked.Load(), Bytes: bytes.Load(), Errors: failed.Load(), Latency: hist}
	if l := last.Load(); l > 0 {
		res.Elapsed = time.Unix(0, l).Sub(start)
	}
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, errDurationOver) {
		return res, cause
	}
	return res, nil
}

// errDurationOver ends a run that reached its Duration: not a failure.
var errDurationOver = errors.New("bench: duration reached")

// ConsumeConfig describes a consume run from the start of a topic. It ends
// after Records, after Duration, or, when neither is given, once every
// partition is read up to its HighWatermark of when the run started.
type ConsumeConfig struct {
	Topic      string
	Records    int64
	Duration   time.Duration
	Consumers  int // kgo clients; partitions are dealt out among them
	ClientOpts []kgo.Opt
}

// RunConsume consumes as configured and returns the measurements.
func RunConsume(ctx context.Context, cfg ConsumeConfig) (Result, error) {
	if cfg.Topic == "" || cfg.Consumers <= 0 || cfg.Records < 0 {
		return Result{}, errors.New("bench: consume needs a topic, consumers > 0 and records >= 0")
	}
	adminCl, err := kgo.NewClient(cfg.ClientOpts...)
	if err != nil {
		return Result{}, err
	}
	adm := kadm.NewClient(adminCl)
	starts, err := adm.ListStartOffsets(ctx, cfg.Topic)
	if err == nil {
		err = starts.Error()
	}
	var ends kadm.ListedOffsets
	if err == nil {
		ends, err = adm.ListEndOffsets(ctx, cfg.Topic)
	}
	if err == nil {
		err = ends.Error()
	}
	adminCl.Close()
	if err != nil {
		return Result{}, fmt.Errorf("bench: list offsets of %s: %w", cfg.Topic, err)
	}
	untilEnd := cfg.Records == 0 && cfg.Duration == 0
	// Deal partitions out; remember how far each must be read.
	assign := make([]map[int32]kgo.Offset, cfg.Consumers)
	stops := make([]map[int32]int64, cfg.Consumers)
	var want int64 // records to read when reading to the end
	i := 0
	for p, s := range starts[cfg.Topic] {
		end := ends[cfg.Topic][p].Offset
		if untilEnd && s.Offset >= end {
			continue
		}
		c := i % cfg.Consumers
		i++
		if assign[c] == nil {
			assign[c], stops[c] = map[int32]kgo.Offset{}, map[int32]int64{}
		}
		assign[c][p] = kgo.NewOffset().At(s.Offset)
		stops[c][p] = end
		want += end - s.Offset
	}
	if untilEnd && want == 0 {
		return Result{Latency: &Histogram{}}, nil
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if cfg.Duration > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeoutCause(ctx, cfg.Duration, errDurationOver)
		defer stop()
	}
	var (
		read, bytes atomic.Int64
		hist        = &Histogram{}
		wg          sync.WaitGroup
		last        atomic.Int64
	)
	start := time.Now()
	for c := range cfg.Consumers {
		if len(assign[c]) == 0 {
			continue
		}
		cl, err := kgo.NewClient(append(cfg.ClientOpts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cfg.Topic: assign[c]}))...)
		if err != nil {
			cancel(err)
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cl.Close()
			remaining := len(stops[c])
			for ctx.Err() == nil {
				fetches := cl.PollFetches(ctx)
				if ctx.Err() != nil {
					return
				}
				var ferr error
				fetches.EachError(func(_ string, _ int32, err error) { ferr = err })
				if ferr != nil {
					cancel(fmt.Errorf("bench: fetch: %w", ferr))
					return
				}
				now := time.Now()
				fetches.EachRecord(func(r *kgo.Record) {
					hist.Record(now.Sub(r.Timestamp))
					bytes.Add(int64(len(r.Value)))
					if n := read.Add(1); cfg.Records > 0 && n >= cfg.Records {
						cancel(errDurationOver)
					}
					if untilEnd {
						if stop, ok := stops[c][r.Partition]; ok && r.Offset+1 >= stop {
							delete(stops[c], r.Partition)
							remaining--
						}
					}
				})
				last.Store(time.Now().UnixNano())
				if untilEnd && remaining == 0 {
					return
				}
			}
		}()
	}
	wg.Wait()
	res := Result{Records: read.Load(), Bytes: bytes.Load(), Latency: hist}
	if l := last.Load(); l > 0 {
		res.Elapsed = time.Unix(0, l).Sub(start)
	}
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, errDurationOver) {
		return res, cause
	}
	return res, nil
}
