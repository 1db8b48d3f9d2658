package perf

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// PartitionsOptions configures Partitions: how a whole broker holds many
// idle partitions (issue #8's 10,000-partition target).
type PartitionsOptions struct {
	// GregorBinary is the gregor to run (required).
	GregorBinary string
	// WorkDir holds the data directory (default: the system temporary
	// directory); it should be on the disk under test.
	WorkDir string
	// Topics × PartitionsPerTopic partitions are created, rf 1.
	Topics             int
	PartitionsPerTopic int32
	// RecordsPerPartition small records are written to every partition
	// before the restarts, so each has a segment with data to open (and,
	// after kill -9, to scan); 0 leaves them empty.
	RecordsPerPartition int
	// PageCache runs the broker in page cache mode; the default is
	// durable (fsync before acknowledging).
	PageCache bool
	// Idle is how long the restarted broker sits idle before its resident
	// memory is read.
	Idle time.Duration
	// ReadyTimeout bounds each start-up.
	ReadyTimeout time.Duration
	// Progress receives a line per step (nil: nowhere).
	Progress io.Writer
}

// DefaultPartitionsOptions returns issue #8's shape: 100 topics of 100
// partitions, one 100-byte record in each, durable, 5 s idle.
func DefaultPartitionsOptions() PartitionsOptions {
	return PartitionsOptions{
		Topics:              100,
		PartitionsPerTopic:  100,
		RecordsPerPartition: 1,
		Idle:                5 * time.Second,
		ReadyTimeout:        5 * time.Minute,
	}
}

// Validate reports the first invalid option, wrapping ErrInvalidOptions.
func (o PartitionsOptions) Validate() error {
	switch {
	case o.GregorBinary == "":
		return invalid("no gregor binary")
	case o.Topics < 1 || o.Topics > maxPartitions:
		return invalid("topics %d: want 1..%d", o.Topics, maxPartitions)
	case o.PartitionsPerTopic < 1 || int64(o.Topics)*int64(o.PartitionsPerTopic) > 10*maxPartitions:
		return invalid("%d topics × %d partitions: want 1..%d partitions in all", o.Topics, o.PartitionsPerTopic, 10*maxPartitions)
	case o.RecordsPerPartition < 0 || o.RecordsPerPartition > 1000:
		return invalid("records per partition %d: want 0..1000", o.RecordsPerPartition)
	case o.Idle < 0:
		return invalid("idle %v: want >= 0", o.Idle)
	case o.ReadyTimeout <= 0:
		return invalid("ready timeout %v: want > 0", o.ReadyTimeout)
	}
	return nil
}

// PartitionsResult is what Partitions measured.
type PartitionsResult struct {
	Partitions int
	// Create is the time to create every topic (CreateTopics, ten topics
	// per request, until Metadata lists them all with leaders) and Fill
	// the time to write the records.
	Create, Fill time.Duration
	// RSSBefore is the broker's resident memory, idle, after creating and
	// filling them (the process that created them).
	RSSBefore int64
	// Shutdown is how long the broker took to exit after SIGTERM.
	Shutdown time.Duration
	// Clean and Kill are the restarts after SIGTERM and after SIGKILL.
	Clean, Kill Restart
}

// Restart is one restart of the broker over the same data.
type Restart struct {
	// Ready is from exec until Metadata answers with every partition
	// led, and Listening until the first answer to ApiVersions (the
	// listener is up).
	Ready, Listening time.Duration
	// CPU is the user+system CPU time the broker had used when ready: on
	// a shared machine, Ready minus CPU is mostly waiting (for the disk,
	// or for a CPU).
	CPU time.Duration
	// RSS is VmRSS after Idle; RSSReady when it became ready; HWM is
	// VmHWM, the peak.
	RSS, RSSReady, HWM int64
}

func (r PartitionsResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d partitions: created in %v, filled in %v, RSS %s idle; clean shutdown took %v\n", r.Partitions,
		r.Create.Round(time.Millisecond), r.Fill.Round(time.Millisecond), mibString(r.RSSBefore), r.Shutdown.Round(time.Millisecond))
	for _, x := range []struct {
		name string
		r    Restart
	}{{"restart after SIGTERM", r.Clean}, {"restart after kill -9", r.Kill}} {
		fmt.Fprintf(&b, "%s: listening in %v, every partition led in %v (%v of CPU); RSS %s when ready, %s idle, peak %s\n", x.name,
			x.r.Listening.Round(time.Millisecond), x.r.Ready.Round(time.Millisecond), x.r.CPU.Round(time.Millisecond),
			mibString(x.r.RSSReady), mibString(x.r.RSS), mibString(x.r.HWM))
	}
	return b.String()
}

func mibString(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/mib) }

// Partitions creates Topics × PartitionsPerTopic partitions on a fresh
// `gregor serve` subprocess, writes RecordsPerPartition records to each,
// then restarts the broker twice over the same data — after a clean
// shutdown (SIGTERM) and after kill -9 — and measures each start-up (from
// exec until Metadata answers with a leader for every partition) and the
// broker's resident memory once idle.
func Partitions(ctx context.Context, o PartitionsOptions) (PartitionsResult, error) {
	if err := o.Validate(); err != nil {
		return PartitionsResult{}, err
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	work, err := os.MkdirTemp(o.WorkDir, "gregor-partitions-")
	if err != nil {
		return PartitionsResult{}, fmt.Errorf("perf: work dir: %w", err)
	}
	defer os.RemoveAll(work)
	b := &partitionsBroker{o: o, dir: work}
	defer b.stop()
	res, err := b.run(ctx)
	if err != nil && b.proc != nil {
		// The data directory goes with the work directory: keep the
		// broker's last words in the error.
		err = fmt.Errorf("%w\nlast lines of the broker's log:\n%s", err, tail(b.proc.log.Name(), 20))
	}
	return res, err
}

// tail returns the last n lines of a file, or "".
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

func (b *partitionsBroker) run(ctx context.Context) (PartitionsResult, error) {
	o := b.o
	res := PartitionsResult{Partitions: o.Topics * int(o.PartitionsPerTopic)}

	if err := b.start(ctx); err != nil {
		return res, err
	}
	topics := make([]string, o.Topics)
	for i := range topics {
		topics[i] = fmt.Sprintf("idle-%04d", i)
	}
	fmt.Fprintf(o.Progress, "creating %d topics × %d partitions\n", o.Topics, o.PartitionsPerTopic)
	start := time.Now()
	if err := b.createTopics(ctx, topics); err != nil {
		return res, err
	}
	if err := b.waitLed(ctx, topics, time.Now().Add(o.ReadyTimeout)); err != nil {
		return res, err
	}
	res.Create = time.Since(start)
	fmt.Fprintf(o.Progress, "created in %v; writing %d records to each partition\n", res.Create.Round(time.Millisecond), o.RecordsPerPartition)
	start = time.Now()
	if err := b.fill(ctx, topics); err != nil {
		return res, err
	}
	res.Fill = time.Since(start)
	var err error
	if res.RSSBefore, _, err = b.idleRSS(ctx); err != nil {
		return res, err
	}

	for _, kill := range []bool{false, true} {
		how := "SIGTERM"
		if kill {
			how = "kill -9"
		}
		fmt.Fprintf(o.Progress, "stopping with %s\n", how)
		took, err := b.halt(kill)
		if err != nil {
			return res, err
		}
		if !kill {
			res.Shutdown = took
		}
		settle()
		r, err := b.restart(ctx, topics)
		if err != nil {
			return res, fmt.Errorf("restart after %s: %w", how, err)
		}
		fmt.Fprintf(o.Progress, "restart after %s: every partition led in %v, RSS %s idle\n", how, r.Ready.Round(time.Millisecond), mibString(r.RSS))
		if kill {
			res.Kill = r
		} else {
			res.Clean = r
		}
	}
	return res, nil
}

// partitionsBroker is the one broker of a Partitions run, restarted over
// the same data directory and ports.
type partitionsBroker struct {
	o                  PartitionsOptions
	dir                string
	addr, admin        string
	proc               *process
	started            time.Time
	kafkaPort, admPort int
}

func (b *partitionsBroker) start(ctx context.Context) error {
	if b.addr == "" {
		var err error
		if b.kafkaPort, err = freePort(); err != nil {
			return err
		}
		if b.admPort, err = freePort(); err != nil {
			return err
		}
		b.addr = "127.0.0.1:" + strconv.Itoa(b.kafkaPort)
		b.admin = "127.0.0.1:" + strconv.Itoa(b.admPort)
	}
	data := filepath.Join(b.dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return fmt.Errorf("perf: data dir: %w", err)
	}
	args := []string{"serve",
		"--listeners", "PLAINTEXT://" + b.addr,
		"--admin-listener", b.admin,
		"--data-dir", data,
		"--log-level", "warn",
	}
	if b.o.PageCache {
		args = append(args, "--set", "log.flush.interval.messages="+pageCacheFlushMessages)
	}
	b.started = time.Now()
	p, err := startProcess("gregor-partitions", b.dir, b.o.GregorBinary, args...)
	if err != nil {
		return err
	}
	b.proc = p
	return p.waitReady(ctx, b.o.ReadyTimeout, pingBroker(b.addr))
}

func (b *partitionsBroker) client(opts ...kgo.Opt) (*kgo.Client, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.addr)}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("perf: client: %w", err)
	}
	return cl, nil
}

// createTopics creates the topics, a few per request: a request is one
// controller proposal, and Kafka's admin tools create in batches too.
func (b *partitionsBroker) createTopics(ctx context.Context, topics []string) error {
	cl, err := b.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	const perRequest = 10
	for i := 0; i < len(topics); i += perRequest {
		batch := topics[i:min(i+perRequest, len(topics))]
		resp, err := adm.CreateTopics(ctx, b.o.PartitionsPerTopic, 1, nil, batch...)
		if err != nil {
			return fmt.Errorf("perf: create topics: %w", err)
		}
		if err := resp.Error(); err != nil {
			return fmt.Errorf("perf: create topics: %w", err)
		}
	}
	return nil
}

// waitLed polls Metadata until it lists every topic with every partition
// led and no error, or deadline passes.
func (b *partitionsBroker) waitLed(ctx context.Context, topics []string, deadline time.Time) error {
	cl, err := b.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var last error
	for {
		last = allLed(ctx, cl, topics, b.o.PartitionsPerTopic)
		if last == nil {
			return nil
		}
		select {
		case <-b.proc.exited:
			return fmt.Errorf("perf: gregor exited (%v); see %s", b.proc.err, b.proc.log.Name())
		case <-ctx.Done():
			return fmt.Errorf("perf: partitions not all led in time: %w", errors.Join(last, ctx.Err()))
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// allLed asks Metadata for the topics and checks every partition has a
// leader.
func allLed(ctx context.Context, cl *kgo.Client, topics []string, parts int32) error {
	req := kmsg.NewPtrMetadataRequest()
	for _, t := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := req.RequestWith(rctx, cl)
	if err != nil {
		return err
	}
	if len(resp.Topics) != len(topics) {
		return fmt.Errorf("metadata lists %d of %d topics", len(resp.Topics), len(topics))
	}
	for _, t := range resp.Topics {
		if t.ErrorCode != 0 {
			return fmt.Errorf("topic %s: error %d", orUnknown(derefString(t.Topic)), t.ErrorCode)
		}
		if int32(len(t.Partitions)) != parts {
			return fmt.Errorf("topic has %d of %d partitions", len(t.Partitions), parts)
		}
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 || p.Leader < 0 {
				return fmt.Errorf("partition %d: error %d, leader %d", p.Partition, p.ErrorCode, p.Leader)
			}
		}
	}
	return nil
}

// fill writes RecordsPerPartition 100-byte records to every partition.
func (b *partitionsBroker) fill(ctx context.Context, topics []string) error {
	if b.o.RecordsPerPartition == 0 {
		return nil
	}
	cl, err := b.client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	t := &ackTracker{latency: NewHistogram()}
	value := bytes.Repeat([]byte{'x'}, 100)
	for _, topic := range topics {
		for p := range b.o.PartitionsPerTopic {
			for range b.o.RecordsPerPartition {
				if t.failed.Load() {
					return t.firstErr()
				}
				cl.Produce(ctx, &kgo.Record{Topic: topic, Partition: p, Value: value},
					func(_ *kgo.Record, err error) { t.done(time.Now(), err) })
			}
		}
	}
	flushCtx, cancel := context.WithTimeout(ctx, drainTimeout)
	defer cancel()
	if err := cl.Flush(flushCtx); err != nil {
		return fmt.Errorf("perf: fill: %w", err)
	}
	return t.firstErr()
}

// halt stops the broker: SIGTERM and a wait (up to ReadyTimeout) for its
// clean exit, or SIGKILL; it returns how long the exit took.
func (b *partitionsBroker) halt(kill bool) (time.Duration, error) {
	start := time.Now()
	if kill {
		_ = b.proc.cmd.Process.Kill()
		<-b.proc.exited
		b.proc.log.Close()
		return time.Since(start), nil
	}
	_ = b.proc.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(b.o.ReadyTimeout)
	defer t.Stop()
	select {
	case <-b.proc.exited:
		if b.proc.err != nil {
			return time.Since(start), fmt.Errorf("perf: gregor exited with %v after SIGTERM; see %s", b.proc.err, b.proc.log.Name())
		}
		return time.Since(start), nil
	case <-t.C:
		_ = b.proc.cmd.Process.Kill()
		<-b.proc.exited
		return time.Since(start), fmt.Errorf("perf: gregor did not exit within %v of SIGTERM; killed", b.o.ReadyTimeout)
	}
}

// restart starts the broker over the same data and measures it.
func (b *partitionsBroker) restart(ctx context.Context, topics []string) (Restart, error) {
	var r Restart
	if err := b.start(ctx); err != nil {
		return r, err
	}
	r.Listening = time.Since(b.started)
	if err := b.waitLed(ctx, topics, b.started.Add(b.o.ReadyTimeout)); err != nil {
		return r, err
	}
	r.Ready = time.Since(b.started)
	r.CPU = procCPU(b.proc.cmd.Process.Pid)
	var err error
	if r.RSSReady, _, err = procMemory(b.proc.cmd.Process.Pid); err != nil {
		return r, err
	}
	if r.RSS, r.HWM, err = b.idleRSS(ctx); err != nil {
		return r, err
	}
	return r, nil
}

// idleRSS waits Idle and reads the broker's VmRSS and VmHWM.
func (b *partitionsBroker) idleRSS(ctx context.Context) (rss, hwm int64, err error) {
	select {
	case <-time.After(b.o.Idle):
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	case <-b.proc.exited:
		return 0, 0, fmt.Errorf("perf: gregor exited (%v); see %s", b.proc.err, b.proc.log.Name())
	}
	return procMemory(b.proc.cmd.Process.Pid)
}

func (b *partitionsBroker) stop() {
	if b.proc == nil {
		return
	}
	select {
	case <-b.proc.exited:
	default:
		_ = b.proc.Stop()
	}
}

// procMemory reads VmRSS and VmHWM of pid from /proc (Linux only).
func procMemory(pid int) (rss, hwm int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("perf: memory of pid %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) != 2 || fields[1] != "kB" {
			continue
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			continue
		}
		if k == "VmRSS" {
			rss = n << 10
		} else {
			hwm = n << 10
		}
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("perf: no VmRSS for pid %d: %w", pid, syscall.ENOENT)
	}
	return rss, hwm, sc.Err()
}

func derefString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// procCPU returns the user+system CPU time of pid from /proc/<pid>/stat,
// or 0 if it cannot be read.
func procCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces: fields count from the
	// last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(data[i+1:]))
	// After ')': state is field 3, utime field 14, stime field 15.
	if len(f) < 13 {
		return 0
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / ticksPerSecond
}
