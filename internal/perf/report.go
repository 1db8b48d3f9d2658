package perf

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"
)

// figures are the medians of a row's runs, each figure on its own.
type figures struct {
	runs                 int
	recordsPerSec, mibPS float64
	p50, p99, p999, max  time.Duration
}

func medianFigures(rs []Result) figures {
	f := figures{runs: len(rs)}
	if len(rs) == 0 {
		return f
	}
	f.recordsPerSec = median(rs, Result.RecordsPerSec)
	f.mibPS = median(rs, Result.MiBPerSec)
	f.p50 = time.Duration(median(rs, func(r Result) float64 { return float64(r.Latency.P50) }))
	f.p99 = time.Duration(median(rs, func(r Result) float64 { return float64(r.Latency.P99) }))
	f.p999 = time.Duration(median(rs, func(r Result) float64 { return float64(r.Latency.P999) }))
	f.max = time.Duration(median(rs, func(r Result) float64 { return float64(r.Latency.Max) }))
	return f
}

// median returns the median of fig over rs (the mean of the middle two
// for an even count).
func median(rs []Result, fig func(Result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = fig(r)
	}
	slices.Sort(v)
	n := len(v)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// report collects the results of a compare run and prints them.
type report struct {
	o        CompareOptions
	started  time.Time
	loadAvg  string // at the start
	peers    []string
	versions []string
	notes    []string
	// results[kind][row][peer] are the runs; rows keep their first-seen
	// order in rows[kind].
	results map[string]map[string]map[string][]Result
	rows    map[string][]string
	machine map[string][]Result
	probes  []string
}

func newReport(o CompareOptions) *report {
	return &report{
		o:       o,
		started: time.Now(),
		loadAvg: loadAverage(),
		results: map[string]map[string]map[string][]Result{},
		rows:    map[string][]string{},
		machine: map[string][]Result{},
	}
}

func (r *report) add(kind, row, peer string, res Result) {
	if r.results[kind] == nil {
		r.results[kind] = map[string]map[string][]Result{}
	}
	if r.results[kind][row] == nil {
		r.results[kind][row] = map[string][]Result{}
		r.rows[kind] = append(r.rows[kind], row)
	}
	r.results[kind][row][peer] = append(r.results[kind][row][peer], res)
}

func (r *report) addMachine(probe string, res Result) {
	if _, ok := r.machine[probe]; !ok {
		r.probes = append(r.probes, probe)
	}
	r.machine[probe] = append(r.machine[probe], res)
}

// fig returns the medians of one cell and whether it was measured.
func (r *report) fig(kind, row, peer string) (figures, bool) {
	rs := r.results[kind][row][peer]
	return medianFigures(rs), len(rs) > 0
}

// command is the reproduction line printed above every table.
func (r *report) command() string {
	if r.o.Command != "" {
		return r.o.Command
	}
	return fmt.Sprintf("perf.Compare with records=%d repetitions=%d sizes=%v partitions=%v acks=%v e2e=%v/s for %v",
		r.o.Records, r.o.Repetitions, r.o.RecordSizes, r.o.Partitions, r.o.Acks, r.o.E2ERate, r.o.E2EDuration)
}

// ratioPairs are the ratio columns of throughput tables: a ÷ b.
var ratioPairs = [][2]string{
	{PeerGregorPageCache, PeerNATS},
	{PeerGregorPageCache, PeerKfake},
	{PeerGregorDurable, PeerNATS},
	{PeerGregorDurable, PeerKfake},
	{PeerGregorDurable, PeerGregorPageCache},
	{PeerGregorCluster3, PeerGregorPageCache},
}

// section describes one printed table group.
type section struct {
	kind, title, explain string
	latency              bool // rows are compared by p99 (lower is better)
}

var sections = []section{
	{KindProduce, "Produce only", "One producer client (franz-go) sends the records as fast as the broker acknowledges them: no compression, 5 ms linger, idempotent at acks=all. NATS publishes asynchronously with acks (at most 4,000 in flight) to one file-storage stream with one replica; partitions are subjects of that stream. NATS has no acks=1, so it runs acks=all rows only. Latency is send → acknowledgement; with the producer unthrottled it is mostly time queued in the client (franz-go buffers up to 50,000 records, nats.go 4,000 publishes), so it compares the Kafka-protocol peers with each other, not with NATS.", false},
	{KindConsume, "Consume only, from the page cache", "One consumer (franz-go, no group, client defaults: 1 MiB per partition per fetch) reads the records the first acks=all produce run wrote, from the start; the data is in the page cache. NATS uses an ordered consumer.", false},
	{KindConsumeLibrdkafka, "Consume only, with librdkafka's consumer (kcat)", "kcat, the command-line client on librdkafka, reads the same topics from the start with librdkafka's defaults (`kcat -C -q -e -o beginning -c N -f '%o\\n'`: one short line per record); the time runs from starting kcat to its exit. librdkafka fetches in a thread of its own while the application drains a local queue, so unlike the franz-go consumer of the consume workload it does not wait for the application between fetches. Kafka-protocol peers only.", false},
	{KindProduceConsume, "Produce while consuming: producer side", "A consumer reads the topic from the start while the producer writes it.", false},
	{KindProduceConsume + "/consume", "Produce while consuming: consumer side", "The consumer of the same runs: from its start until it has every record.", false},
	{KindE2E, "End-to-end latency", "", true},
}

func (r *report) write(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Gregor against peers on one machine\n\n")
	r.writeSetup(&b)
	if len(r.probes) > 0 {
		r.writeMachine(&b)
	}
	for _, s := range sections {
		if len(r.rows[s.kind]) == 0 {
			continue
		}
		if s.kind == KindConsume && r.o.FetchMaxPartitionBytes > 0 {
			s.explain = strings.Replace(s.explain, "client defaults: 1 MiB per partition per fetch",
				fmt.Sprintf("client defaults but %s per partition per fetch, for every Kafka-protocol peer", sizeName(int(r.o.FetchMaxPartitionBytes))), 1)
		}
		if s.kind == KindE2E {
			s.explain = fmt.Sprintf("One producer sends %.0f records/s (linger 0) with the send time in each value; one consumer in the same process reads them. Latency is send → received by the consumer, measured for %v after %d warm-up records.", r.o.E2ERate, r.o.E2EDuration, DefaultE2EOptions().Warmup)
		}
		r.writeSection(&b, s)
	}
	r.writeTargets(&b)
	_, err := w.Write(b.Bytes())
	return err
}

func (r *report) writeSetup(b *bytes.Buffer) {
	fmt.Fprintf(b, "Command: `%s`\n\n", r.command())
	fmt.Fprintf(b, "- Run: %s, took %v.\n", r.started.UTC().Format("2006-01-02 15:04 MST"), time.Since(r.started).Round(time.Second))
	fmt.Fprintf(b, "- Machine: %s/%s, %d CPUs%s, kernel %s, %s; load average at start %s, at end %s.\n",
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel(), kernelRelease(), runtime.Version(), r.loadAvg, loadAverage())
	fmt.Fprintf(b, "- Peers: %s.\n", strings.Join(r.versions, "; "))
	fmt.Fprintf(b, "- Every figure is the median of %d runs (each figure on its own); peers run one at a time, in a rotating order within each repetition. %d records per throughput run. MB/s is MiB/s of record values, as Kafka's perf tools print it. The load generator runs in this process; Gregor, NATS and kfake are subprocesses on loopback (kfake is this binary re-executed), so no peer shares the generator's heap and garbage collector.\n",
		r.o.Repetitions, r.o.Records)
	fmt.Fprintf(b, "- Gregor durable fsyncs before acknowledging (group commit); page cache mode sets log.flush.interval.messages=%s. NATS JetStream keeps its default sync_interval (fsync every 2 minutes), so it is a page-cache system here too.\n", pageCacheFlushMessages)
	if slices.Contains(r.peers, PeerGregorCluster3) {
		fmt.Fprintf(b, "- Gregor 3 nodes rf=3: three `gregor serve` processes of the same binary on loopback (all controller voters), page cache mode like the single-node page cache peer; every topic has replication factor 3 and min.insync.replicas=%s. The three nodes share this machine's CPUs and disk with the load generator.\n", clusterMinISR)
	}
	b.WriteString("- Before every run the harness calls sync(2), so no run pays for the writeback of what an earlier run left in the page cache.\n")
	if busy(r.loadAvg) || busy(loadAverage()) {
		fmt.Fprintf(b, "- The load average exceeded the %d CPUs: other work shared the machine during the run, which shows most in latency tails and in the spread between runs.\n", runtime.NumCPU())
	}
	for _, n := range r.notes {
		fmt.Fprintf(b, "- %s\n", n)
	}
	b.WriteString("\n")
}

func (r *report) writeMachine(b *bytes.Buffer) {
	fmt.Fprintf(b, "## Machine limits\n\nCommand: `%s`\n\n", r.command())
	b.WriteString("| probe | MB/s | ops/s | p50 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|---:|\n")
	for _, p := range r.probes {
		f := medianFigures(r.machine[p])
		lat := "| – | – | – |"
		if f.p50 > 0 {
			lat = fmt.Sprintf("| %s | %s | %s |", ms(f.p50), ms(f.p99), ms(f.max))
		}
		fmt.Fprintf(b, "| %s | %.1f | %.0f %s\n", p, f.mibPS, f.recordsPerSec, lat)
	}
	b.WriteString("\n")
}

func (r *report) writeSection(b *bytes.Buffer, s section) {
	fmt.Fprintf(b, "## %s\n\n%s\n\nCommand: `%s`\n\n", s.title, s.explain, r.command())
	rows := r.rows[s.kind]
	// Summary: one cell per peer, then the ratios.
	b.WriteString("| workload |")
	for _, p := range r.peers {
		fmt.Fprintf(b, " %s |", peerNames[p])
	}
	pairs := r.pairs()
	for _, pr := range pairs {
		if s.latency {
			fmt.Fprintf(b, " %s p99 ÷ %s p99 |", peerNames[pr[1]], peerNames[pr[0]])
		} else {
			fmt.Fprintf(b, " %s ÷ %s |", peerNames[pr[0]], peerNames[pr[1]])
		}
	}
	loop := (s.kind == KindConsume || s.kind == KindConsumeLibrdkafka) && len(r.probes) > 0
	if loop {
		fmt.Fprintf(b, " %s ÷ loopback TCP |", peerNames[PeerGregorPageCache])
	}
	b.WriteString("\n|---|")
	b.WriteString(strings.Repeat("---:|", len(r.peers)+len(pairs)+btoi(loop)))
	b.WriteString("\n")
	for _, row := range rows {
		fmt.Fprintf(b, "| %s |", row)
		for _, p := range r.peers {
			f, ok := r.fig(s.kind, row, p)
			switch {
			case !ok:
				b.WriteString(" – |")
			case s.latency:
				fmt.Fprintf(b, " p99 %s ms |", ms(f.p99))
			default:
				fmt.Fprintf(b, " %.1f MB/s (%s rec/s) |", f.mibPS, kilo(f.recordsPerSec))
			}
		}
		for _, pr := range pairs {
			a, okA := r.fig(s.kind, row, pr[0])
			c, okC := r.fig(s.kind, row, pr[1])
			switch {
			case !okA || !okC:
				b.WriteString(" – |")
			case s.latency:
				fmt.Fprintf(b, " %s |", ratio(float64(c.p99), float64(a.p99)))
			default:
				fmt.Fprintf(b, " %s |", ratio(a.recordsPerSec, c.recordsPerSec))
			}
		}
		if loop {
			f, ok := r.fig(s.kind, row, PeerGregorPageCache)
			lb := medianFigures(r.machine[loopbackProbe])
			if ok && lb.mibPS > 0 {
				fmt.Fprintf(b, " %.0f%% |", 100*f.mibPS/lb.mibPS)
			} else {
				b.WriteString(" – |")
			}
		}
		b.WriteString("\n")
	}
	if s.latency {
		b.WriteString("\nRatios above 1: Gregor has the lower p99.\n")
	}
	// Details: every figure of every cell, and each run's main figure so
	// the spread is visible.
	latency := !strings.HasPrefix(s.kind, KindConsume) && !strings.HasSuffix(s.kind, "/consume")
	each := "records/s of each run"
	if s.latency {
		each = "p99 ms of each run"
	}
	if latency {
		fmt.Fprintf(b, "\n| workload | peer | records/s | MB/s | p50 ms | p99 ms | p99.9 ms | max ms | %s |\n|---|---|---:|---:|---:|---:|---:|---:|---|\n", each)
	} else {
		fmt.Fprintf(b, "\n| workload | peer | records/s | MB/s | %s |\n|---|---|---:|---:|---|\n", each)
	}
	for _, row := range rows {
		for _, p := range r.peers {
			f, ok := r.fig(s.kind, row, p)
			if !ok {
				continue
			}
			fmt.Fprintf(b, "| %s | %s | %.0f | %.1f |", row, peerNames[p], f.recordsPerSec, f.mibPS)
			if latency {
				fmt.Fprintf(b, " %s | %s | %s | %s |", ms(f.p50), ms(f.p99), ms(f.p999), ms(f.max))
			}
			var runs []string
			for _, res := range r.results[s.kind][row][p] {
				if s.latency {
					runs = append(runs, ms(res.Latency.P99))
				} else {
					runs = append(runs, kilo(res.RecordsPerSec()))
				}
			}
			fmt.Fprintf(b, " %s |\n", strings.Join(runs, ", "))
		}
	}
	b.WriteString("\n")
}

// pairs returns the ratio pairs whose two peers both ran.
func (r *report) pairs() [][2]string {
	var out [][2]string
	for _, pr := range ratioPairs {
		if slices.Contains(r.peers, pr[0]) && slices.Contains(r.peers, pr[1]) {
			out = append(out, pr)
		}
	}
	return out
}

// loopbackProbe is the name of the loopback TCP machine probe.
const loopbackProbe = "loopback TCP, one stream, 1 MiB reads"

// target is one performance goal and how it came out.
type target struct {
	goal, measured string
	met            bool
}

// targets evaluates the goals on the 1 KiB acks=all rows that were run.
func (r *report) targets() []target {
	var out []target
	for _, parts := range r.o.Partitions {
		row := workloadName(1024, "all", int32(parts))
		pc, okPC := r.fig(KindProduce, row, PeerGregorPageCache)
		if nats, ok := r.fig(KindProduce, row, PeerNATS); ok && okPC {
			x := pc.recordsPerSec / nats.recordsPerSec
			out = append(out, target{"produce " + row + ": Gregor page cache ≥ 1.5× NATS JetStream", fmt.Sprintf("%.2f×", x), x >= 1.5})
		}
		if kf, ok := r.fig(KindProduce, row, PeerKfake); ok && okPC {
			x := pc.recordsPerSec / kf.recordsPerSec
			out = append(out, target{"produce " + row + ": Gregor page cache ≥ 1.0× kfake", fmt.Sprintf("%.2f×", x), x >= 1.0})
		}
		if d, ok := r.fig(KindProduce, row, PeerGregorDurable); ok && okPC {
			x := d.recordsPerSec / pc.recordsPerSec
			out = append(out, target{"produce " + row + ": Gregor durable within 30% of page cache", fmt.Sprintf("durable %.0f%% of page cache", 100*x), x >= 0.7})
		}
		for _, acks := range r.o.Acks {
			arow := workloadName(1024, acks, int32(parts))
			pcA, okA := r.fig(KindProduce, arow, PeerGregorPageCache)
			if c3, ok := r.fig(KindProduce, arow, PeerGregorCluster3); ok && okA {
				x := c3.recordsPerSec / pcA.recordsPerSec
				out = append(out, target{"produce " + arow + ": Gregor 3 nodes rf=3 (min.insync.replicas=2) ≥ 0.50× single node page cache",
					fmt.Sprintf("%.2f×", x), x >= 0.5})
			}
		}
		crow := workloadName(1024, "", int32(parts))
		for _, k := range []struct{ kind, client string }{{KindConsume, ""}, {KindConsumeLibrdkafka, " (librdkafka)"}} {
			c, okC := r.fig(k.kind, crow, PeerGregorPageCache)
			if kf, ok := r.fig(k.kind, crow, PeerKfake); ok && okC {
				x := c.recordsPerSec / kf.recordsPerSec
				out = append(out, target{"consume " + crow + k.client + ": Gregor ≥ 1.5× kfake", fmt.Sprintf("%.2f×", x), x >= 1.5})
			}
			if lb := medianFigures(r.machine[loopbackProbe]); okC && lb.mibPS > 0 {
				x := c.mibPS / lb.mibPS
				out = append(out, target{"consume " + crow + k.client + ": Gregor ≥ 40% of loopback TCP", fmt.Sprintf("%.0f%% (%.0f of %.0f MB/s)", 100*x, c.mibPS, lb.mibPS), x >= 0.4})
			}
		}
	}
	for _, row := range r.rows[KindE2E] {
		for _, p := range []string{PeerGregorPageCache, PeerGregorDurable} {
			if f, ok := r.fig(KindE2E, row, p); ok {
				out = append(out, target{fmt.Sprintf("end to end %s at %.0f records/s: %s p99 ≤ 2 ms", row, r.o.E2ERate, peerNames[p]),
					fmt.Sprintf("p99 %s ms", ms(f.p99)), f.p99 <= 2*time.Millisecond})
			}
		}
	}
	return out
}

func (r *report) writeTargets(b *bytes.Buffer) {
	ts := r.targets()
	if len(ts) == 0 {
		return
	}
	fmt.Fprintf(b, "## Targets\n\nCommand: `%s`\n\n| target | measured | met? |\n|---|---|---|\n", r.command())
	for _, t := range ts {
		met := "not met"
		if t.met {
			met = "met"
		}
		fmt.Fprintf(b, "| %s | %s | %s |\n", t.goal, t.measured, met)
	}
	b.WriteString("\n")
}

func ratio(a, b float64) string {
	if b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// kilo prints a rate with a k or M suffix.
func kilo(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// cpuModel returns ", <model name>" from /proc/cpuinfo, or "".
func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return " (" + strings.TrimSpace(v) + ")"
		}
	}
	return ""
}

func kernelRelease() string {
	data, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(data))
}

// loadAverage returns the 1, 5 and 15 minute load averages, or "unknown".
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// busy reports whether a load average line shows more runnable work than
// CPUs over the last minute.
func busy(loadAvg string) bool {
	var one float64
	if _, err := fmt.Sscan(loadAvg, &one); err != nil {
		return false
	}
	return one > float64(runtime.NumCPU())
}

// moduleVersion returns the version of a dependency of this binary.
func moduleVersion(path string) string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, d := range info.Deps {
		if d.Path == path {
			return d.Version
		}
	}
	return "unknown"
}
