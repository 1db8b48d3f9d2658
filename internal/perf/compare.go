package perf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// Workload kinds, as CompareOptions.Kinds names them.
const (
	KindMachine           = "machine"            // fsync and loopback TCP limits
	KindProduce           = "produce"            // produce only
	KindConsume           = "consume"            // consume only, from the page cache
	KindConsumeLibrdkafka = "consume-librdkafka" // consume only with kcat (librdkafka); skipped without kcat
	KindProduceConsume    = "produce-consume"    // produce while consuming
	KindE2E               = "e2e"                // end-to-end latency at a fixed rate
)

// AllKinds lists every workload kind in run order.
var AllKinds = []string{KindMachine, KindProduce, KindConsume, KindConsumeLibrdkafka, KindProduceConsume, KindE2E}

// CompareOptions configures Compare. Start from DefaultCompareOptions;
// zero fields take the defaults.
type CompareOptions struct {
	// GregorBinary is the gregor to run; empty builds ./cmd/gregor of
	// SourceDir (the module root, default ".") into the work directory.
	// `gregor bench compare` passes its own executable.
	GregorBinary string
	SourceDir    string
	// WorkDir holds the data directories (default: the system temporary
	// directory); it should be on the disk under test, not a tmpfs.
	WorkDir string
	// NATSServer is the nats-server to run; empty looks it up on PATH, and
	// a missing one drops the NATS peer with a note in the report.
	NATSServer string
	// Kcat is the kcat binary of the librdkafka consumer workload; empty
	// looks it up on PATH, and a missing one drops that workload with a
	// note in the report.
	Kcat string
	// Peers to run, by id (AllPeers); default all.
	Peers []string
	// Kinds of workload to run (AllKinds); default all.
	Kinds []string
	// Records per produce and consume run.
	Records int64
	// Repetitions of every run; each figure is their median. At least 3.
	Repetitions int
	// RecordSizes, Partitions and Acks span the produce matrix; consume,
	// produce-consume use every size × partitions with the first acks,
	// and e2e every size with the first partition count.
	RecordSizes []int
	Partitions  []int
	Acks        []string
	// FetchMaxPartitionBytes is the consumers' most bytes per partition
	// per fetch, the same for every Kafka-protocol peer; 0 keeps the
	// client's default (1 MiB, Kafka's).
	FetchMaxPartitionBytes int32
	// E2ERate is the end-to-end rate in records/s and E2EDuration how long
	// each end-to-end run measures.
	E2ERate     float64
	E2EDuration time.Duration
	// Quick makes the defaults of zero fields those of
	// QuickCompareOptions: a smoke run of a few minutes.
	Quick bool
	// Command is printed above every table: how to reproduce it. Empty
	// prints the Go call.
	Command string
	// Progress receives a line per run (nil: nowhere).
	Progress io.Writer
}

// DefaultCompareOptions returns the default run: every peer and workload,
// 200,000 records per run, 3 repetitions, 1 KiB and 100 B records, 1 and
// 16 partitions, acks=all and acks=1, end to end at 1,000 records/s for
// 5 s. About 10 to 15 minutes on 2 cores.
func DefaultCompareOptions() CompareOptions {
	return CompareOptions{
		SourceDir:   ".",
		Peers:       slices.Clone(AllPeers),
		Kinds:       slices.Clone(AllKinds),
		Records:     200_000,
		Repetitions: 3,
		RecordSizes: []int{1024, 100},
		Partitions:  []int{1, 16},
		Acks:        []string{"all", "1"},
		E2ERate:     1000,
		E2EDuration: 5 * time.Second,
	}
}

// QuickCompareOptions is DefaultCompareOptions scaled down for a smoke run
// of a few minutes: 20,000 records, end to end for 2 s.
func QuickCompareOptions() CompareOptions {
	o := DefaultCompareOptions()
	o.Quick = true
	o.Records = 20_000
	o.E2EDuration = 2 * time.Second
	return o
}

// withDefaults fills zero fields from DefaultCompareOptions (or
// QuickCompareOptions with Quick).
func (o CompareOptions) withDefaults() CompareOptions {
	d := DefaultCompareOptions()
	if o.Quick {
		d = QuickCompareOptions()
	}
	if o.SourceDir == "" {
		o.SourceDir = d.SourceDir
	}
	if len(o.Peers) == 0 {
		o.Peers = d.Peers
	}
	if len(o.Kinds) == 0 {
		o.Kinds = d.Kinds
	}
	if o.Records == 0 {
		o.Records = d.Records
	}
	if o.Repetitions == 0 {
		o.Repetitions = d.Repetitions
	}
	if len(o.RecordSizes) == 0 {
		o.RecordSizes = d.RecordSizes
	}
	if len(o.Partitions) == 0 {
		o.Partitions = d.Partitions
	}
	if len(o.Acks) == 0 {
		o.Acks = d.Acks
	}
	if o.E2ERate == 0 {
		o.E2ERate = d.E2ERate
	}
	if o.E2EDuration == 0 {
		o.E2EDuration = d.E2EDuration
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return o
}

// Validate reports the first invalid option, wrapping ErrInvalidOptions.
// Zero fields are valid: they take the defaults.
func (o CompareOptions) Validate() error {
	o = o.withDefaults()
	for _, p := range o.Peers {
		if !slices.Contains(AllPeers, p) {
			return invalid("peer %q: want one of %s", p, strings.Join(AllPeers, ", "))
		}
	}
	for _, k := range o.Kinds {
		if !slices.Contains(AllKinds, k) {
			return invalid("workload %q: want one of %s", k, strings.Join(AllKinds, ", "))
		}
	}
	switch {
	case o.Records < 1:
		return invalid("records %d: want > 0", o.Records)
	case o.Repetitions < 3 || o.Repetitions > 99:
		return invalid("repetitions %d: want 3..99 (every figure is a median of at least three runs)", o.Repetitions)
	case o.E2ERate < 0:
		return invalid("e2e rate %v: want > 0", o.E2ERate)
	case o.E2EDuration < 0:
		return invalid("e2e duration %v: want > 0", o.E2EDuration)
	case o.FetchMaxPartitionBytes < 0:
		return invalid("fetch max partition bytes %d: want >= 0", o.FetchMaxPartitionBytes)
	}
	for _, s := range o.RecordSizes {
		if s < e2eHeaderBytes || s > maxRecordSize {
			return invalid("record size %d: want %d..%d", s, e2eHeaderBytes, maxRecordSize)
		}
	}
	for _, p := range o.Partitions {
		if p < 1 || p > maxPartitions {
			return invalid("partitions %d: want 1..%d", p, maxPartitions)
		}
	}
	for _, a := range o.Acks {
		if a != "all" && a != "1" {
			return invalid("acks %q: want all or 1", a)
		}
	}
	return nil
}

// Compare runs every selected workload against Gregor (durable and page
// cache mode, and a 3-node rf=3 cluster, as subprocesses), NATS JetStream
// (a subprocess) and kfake (this binary re-executed, see ServeKfakeChild),
// one after the other on this machine, interleaving the
// peers within each repetition, and writes a markdown report with the
// medians, the ratios between peers, the machine's own limits, and which
// performance targets were met. Progress lines go to o.Progress.
func Compare(ctx context.Context, o CompareOptions, w io.Writer) error {
	if err := o.Validate(); err != nil {
		return err
	}
	o = o.withDefaults()
	work, err := os.MkdirTemp(o.WorkDir, "gregor-bench-")
	if err != nil {
		return fmt.Errorf("perf: work dir: %w", err)
	}
	defer os.RemoveAll(work)

	rep := newReport(o)
	if slices.Contains(o.Kinds, KindConsumeLibrdkafka) {
		bin, err := findKcat(o.Kcat)
		if errors.Is(err, ErrKcatMissing) {
			rep.notes = append(rep.notes, "The librdkafka consumer (kcat) was not run: kcat is not installed.")
			o.Kinds = slices.DeleteFunc(slices.Clone(o.Kinds), func(k string) bool { return k == KindConsumeLibrdkafka })
		} else {
			o.Kcat = bin
			rep.versions = append(rep.versions, "kcat "+kcatVersion(bin))
		}
	}
	rep.o = o
	peers, err := startPeers(ctx, o, work, rep)
	defer func() {
		for _, p := range peers {
			if err := p.stop(); err != nil {
				fmt.Fprintf(o.Progress, "stop %s: %v\n", p.id(), err)
			}
		}
	}()
	if err != nil {
		return err
	}
	r := &runner{o: o, peers: peers, rep: rep, work: work}
	if err := r.run(ctx); err != nil {
		return err
	}
	return rep.write(w)
}

// startPeers starts the selected peers; on error it returns those it
// started so the caller stops them.
func startPeers(ctx context.Context, o CompareOptions, work string, rep *report) ([]peer, error) {
	var peers []peer
	var gregorBin string
	for _, id := range AllPeers {
		if !slices.Contains(o.Peers, id) {
			continue
		}
		dir, err := os.MkdirTemp(work, id+"-")
		if err != nil {
			return peers, fmt.Errorf("perf: %w", err)
		}
		switch id {
		case PeerGregorPageCache, PeerGregorDurable, PeerGregorCluster3:
			if gregorBin == "" {
				var rev string
				gregorBin, rev, err = gregorBinary(ctx, o, work)
				if err != nil {
					return peers, err
				}
				rep.versions = append(rep.versions, "gregor "+orUnknown(rev))
			}
			var p *kafkaPeer
			if id == PeerGregorCluster3 {
				fmt.Fprintf(o.Progress, "starting a %d-node gregor cluster\n", clusterNodes)
				p, err = startGregorCluster(ctx, gregorBin, dir)
			} else {
				p, err = startGregor(ctx, gregorBin, dir, id == PeerGregorPageCache)
			}
			if err != nil {
				return peers, err
			}
			p.fetchMaxPartitionBytes = o.FetchMaxPartitionBytes
			peers = append(peers, p)
		case PeerNATS:
			bin, err := findNATS(o.NATSServer)
			if errors.Is(err, ErrNATSMissing) {
				rep.notes = append(rep.notes, "NATS JetStream was not run: nats-server is not installed.")
				continue
			}
			rep.versions = append(rep.versions, "nats-server "+natsVersion(bin))
			srv, err := startNATS(ctx, bin, dir)
			if err != nil {
				return peers, err
			}
			peers = append(peers, &natsPeer{srv: srv})
		case PeerKfake:
			p, err := startKfakeProcess(ctx, dir)
			if err != nil {
				return peers, err
			}
			p.fetchMaxPartitionBytes = o.FetchMaxPartitionBytes
			rep.versions = append(rep.versions, "kfake "+moduleVersion("github.com/twmb/franz-go/pkg/kfake"))
			peers = append(peers, p)
		}
		rep.peers = append(rep.peers, id)
	}
	return peers, nil
}

// gregorBinary returns the gregor to run and its revision.
func gregorBinary(ctx context.Context, o CompareOptions, work string) (bin, rev string, err error) {
	if o.GregorBinary != "" {
		return o.GregorBinary, binaryRevision(o.GregorBinary), nil
	}
	fmt.Fprintf(o.Progress, "building gregor from %s\n", o.SourceDir)
	bin, err = BuildGregor(ctx, o.SourceDir, work)
	return bin, sourceRevision(ctx, o.SourceDir), err
}

func orUnknown(s string) string {
	if s == "" {
		return "(revision unknown)"
	}
	return s
}

// runner runs the workloads and files the results in the report.
type runner struct {
	o     CompareOptions
	peers []peer
	rep   *report
	work  string
	seq   int // names topics uniquely
}

func (r *runner) run(ctx context.Context) error {
	if slices.Contains(r.o.Kinds, KindMachine) {
		if err := r.machine(ctx); err != nil {
			return err
		}
	}
	for _, size := range r.o.RecordSizes {
		for _, parts := range r.o.Partitions {
			if err := r.throughput(ctx, size, int32(parts)); err != nil {
				return err
			}
		}
	}
	if slices.Contains(r.o.Kinds, KindE2E) {
		for _, size := range r.o.RecordSizes {
			if err := r.endToEnd(ctx, size, int32(r.o.Partitions[0])); err != nil {
				return err
			}
		}
	}
	return nil
}

// machine measures the machine's limits.
func (r *runner) machine(ctx context.Context) error {
	probes := []struct {
		name string
		run  func() (Result, error)
	}{
		{"sequential write, fsync every 1 MiB", func() (Result, error) {
			return DiskFsync(ctx, r.work, 1<<20, 256<<20, 3*time.Second)
		}},
		{"sequential write, fsync every 16 KiB", func() (Result, error) {
			return DiskFsync(ctx, r.work, 16<<10, 64<<20, 3*time.Second)
		}},
		{"group commit, 1,000 records/s of 100 B, latency per record", func() (Result, error) {
			return DiskGroupCommit(ctx, r.work, 1000, 100, 3*time.Second)
		}},
		{loopbackProbe, func() (Result, error) {
			return LoopbackTCP(ctx, 4<<30, 3*time.Second)
		}},
	}
	for _, p := range probes {
		for i := range r.o.Repetitions {
			settle()
			res, err := p.run()
			if err != nil {
				return err
			}
			fmt.Fprintf(r.o.Progress, "%s #%d: %.1f MB/sec, %.0f ops/sec\n", p.name, i+1, res.MiBPerSec(), res.RecordsPerSec())
			r.rep.addMachine(p.name, res)
		}
	}
	return nil
}

// topic returns a fresh topic (stream) name; NATS stream names allow no
// dots, Kafka topic names allow these characters.
func (r *runner) topic(kind string) string {
	r.seq++
	return fmt.Sprintf("bench-%s-%d", kind, r.seq)
}

// order returns the peers in the order of repetition i: rotated, so no
// peer always runs first (right after a neighbour's writeback) or last.
func (r *runner) order(i int) []peer {
	n := len(r.peers)
	out := make([]peer, 0, n)
	for j := range n {
		out = append(out, r.peers[(i+j)%n])
	}
	return out
}

// throughput runs produce, consume and produce-consume for one record
// size and partition count.
func (r *runner) throughput(ctx context.Context, size int, parts int32) error {
	doProduce := slices.Contains(r.o.Kinds, KindProduce)
	doConsume := slices.Contains(r.o.Kinds, KindConsume)
	doKcat := slices.Contains(r.o.Kinds, KindConsumeLibrdkafka)
	// The consume runs read the topic the first acks=all produce run
	// wrote (or one filled for them), kept per peer until they are done.
	kept := map[string]string{}
	defer func() {
		for _, p := range r.peers {
			if t, ok := kept[p.id()]; ok {
				_ = p.drop(ctx, t)
			}
		}
	}()
	if doProduce {
		for _, acks := range r.o.Acks {
			row := workloadName(size, acks, parts)
			for i := range r.o.Repetitions {
				for _, p := range r.order(i) {
					if p.id() == PeerNATS && acks != "all" {
						continue // JetStream acknowledges stored messages only: no acks=1
					}
					topic := r.topic("p")
					settle()
					res, err := p.produce(ctx, produceSpec{topic: topic, partitions: parts, size: size, records: r.o.Records, acks: acks})
					if err != nil {
						return fmt.Errorf("produce %s, %s: %w", row, p.id(), err)
					}
					fmt.Fprintf(r.o.Progress, "produce %s %s #%d: %s\n", row, p.id(), i+1, res)
					r.rep.add(KindProduce, row, p.id(), res)
					if _, ok := kept[p.id()]; !ok && acks == r.o.Acks[0] {
						kept[p.id()] = topic
						continue
					}
					if err := p.drop(ctx, topic); err != nil {
						return err
					}
				}
			}
		}
	}
	if doConsume || doKcat {
		// Without produce runs, fill one topic per peer for the consumers.
		for _, p := range r.peers {
			if _, ok := kept[p.id()]; ok {
				continue
			}
			topic := r.topic("c")
			if _, err := p.produce(ctx, produceSpec{topic: topic, partitions: parts, size: size, records: r.o.Records, acks: r.o.Acks[0]}); err != nil {
				return fmt.Errorf("fill %s for consume: %w", p.id(), err)
			}
			kept[p.id()] = topic
		}
	}
	if doConsume {
		row := workloadName(size, "", parts)
		for i := range r.o.Repetitions {
			for _, p := range r.order(i) {
				settle()
				res, err := p.consume(ctx, kept[p.id()], r.o.Records)
				if err != nil {
					return fmt.Errorf("consume %s, %s: %w", row, p.id(), err)
				}
				fmt.Fprintf(r.o.Progress, "consume %s %s #%d: %s\n", row, p.id(), i+1, res)
				r.rep.add(KindConsume, row, p.id(), res)
			}
		}
	}
	if doKcat {
		row := workloadName(size, "", parts)
		for i := range r.o.Repetitions {
			for _, p := range r.order(i) {
				kp, ok := p.(*kafkaPeer)
				if !ok {
					continue // NATS speaks no Kafka protocol
				}
				settle()
				res, err := kp.consumeKcat(ctx, r.o.Kcat, kept[p.id()], r.o.Records, size)
				if err != nil {
					return fmt.Errorf("consume with kcat %s, %s: %w", row, p.id(), err)
				}
				fmt.Fprintf(r.o.Progress, "consume with kcat %s %s #%d: %s\n", row, p.id(), i+1, res)
				r.rep.add(KindConsumeLibrdkafka, row, p.id(), res)
			}
		}
	}
	if slices.Contains(r.o.Kinds, KindProduceConsume) {
		return r.produceConsume(ctx, size, parts)
	}
	return nil
}

// produceConsume produces Records while one consumer reads them from the
// start of the same topic.
func (r *runner) produceConsume(ctx context.Context, size int, parts int32) error {
	spec := produceSpec{partitions: parts, size: size, records: r.o.Records, acks: r.o.Acks[0]}
	row := workloadName(size, spec.acks, parts)
	for i := range r.o.Repetitions {
		for _, p := range r.order(i) {
			spec.topic = r.topic("pc")
			prod, cons, err := r.produceWhileConsuming(ctx, p, spec)
			if err != nil {
				return fmt.Errorf("produce-consume %s, %s: %w", row, p.id(), err)
			}
			fmt.Fprintf(r.o.Progress, "produce-consume %s %s #%d: produce %s; consume %s\n", row, p.id(), i+1, prod, cons)
			r.rep.add(KindProduceConsume, row, p.id(), prod)
			r.rep.add(KindProduceConsume+"/consume", row, p.id(), cons)
			if err := p.drop(ctx, spec.topic); err != nil {
				return err
			}
		}
	}
	return nil
}

// produceWhileConsuming runs one produce with a consumer of the same
// topic started just before it.
func (r *runner) produceWhileConsuming(ctx context.Context, p peer, spec produceSpec) (prod, cons Result, err error) {
	if err := p.prepare(ctx, spec.topic, spec.partitions); err != nil {
		return Result{}, Result{}, err
	}
	settle()
	consCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	consumer := goErr(func() error {
		var err error
		cons, err = p.consume(consCtx, spec.topic, spec.records)
		return err
	})
	prod, err = p.produce(ctx, spec)
	if err != nil {
		cancel()
		<-consumer.done
		return prod, cons, err
	}
	select {
	case <-consumer.done:
	case <-time.After(drainTimeout):
		cancel()
		<-consumer.done
		return prod, cons, fmt.Errorf("consumer had %d of %d records %v after the producer finished", cons.Records, spec.records, drainTimeout)
	}
	return prod, cons, consumer.err
}

// endToEnd measures produce→consume latency at E2ERate.
func (r *runner) endToEnd(ctx context.Context, size int, parts int32) error {
	o := DefaultE2EOptions()
	o.Partitions, o.RecordSize, o.Rate, o.Duration = parts, size, r.o.E2ERate, r.o.E2EDuration
	o.Acks = r.o.Acks[0]
	o.Idempotent = o.Acks == "all"
	row := workloadName(size, o.Acks, parts)
	for i := range r.o.Repetitions {
		for _, p := range r.order(i) {
			topic := r.topic("e2e")
			settle()
			res, err := p.e2e(ctx, topic, o)
			if err != nil {
				return fmt.Errorf("e2e %s, %s: %w", row, p.id(), err)
			}
			fmt.Fprintf(r.o.Progress, "e2e %s %s #%d: %s\n", row, p.id(), i+1, res)
			r.rep.add(KindE2E, row, p.id(), res)
			if err := p.drop(ctx, topic); err != nil {
				return err
			}
		}
	}
	return nil
}

// workloadName names a row: "1 KiB, acks=all, 16 partitions".
func workloadName(size int, acks string, parts int32) string {
	s := sizeName(size)
	if acks != "" {
		s += ", acks=" + acks
	}
	if parts == 1 {
		return s + ", 1 partition"
	}
	return fmt.Sprintf("%s, %d partitions", s, parts)
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}
