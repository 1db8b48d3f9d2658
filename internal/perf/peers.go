package perf

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Peer ids, as CompareOptions.Peers names them.
const (
	PeerGregorPageCache = "gregor-pagecache"
	PeerGregorDurable   = "gregor-durable"
	PeerGregorCluster3  = "gregor-cluster3"
	PeerNATS            = "nats"
	PeerKfake           = "kfake"
)

// AllPeers lists every peer id in report order.
var AllPeers = []string{PeerGregorPageCache, PeerGregorDurable, PeerGregorCluster3, PeerNATS, PeerKfake}

// peerNames are the column headings.
var peerNames = map[string]string{
	PeerGregorPageCache: "Gregor page cache",
	PeerGregorDurable:   "Gregor durable",
	PeerGregorCluster3:  "Gregor 3 nodes rf=3",
	PeerNATS:            "NATS JetStream",
	PeerKfake:           "kfake",
}

// pageCacheFlushMessages is log.flush.interval.messages for Gregor's page
// cache mode: Kafka's default, never fsync on a message count.
const pageCacheFlushMessages = "9223372036854775807"

// produceSpec is one produce run against a peer.
type produceSpec struct {
	topic      string
	partitions int32
	size       int
	records    int64
	acks       string
}

// peer is one system under test. Every run uses its own topic (stream),
// created by the run and dropped by the caller.
type peer interface {
	id() string
	produce(ctx context.Context, s produceSpec) (Result, error)
	// prepare creates the topic so a consumer can start before the
	// producer (produce while consuming).
	prepare(ctx context.Context, topic string, partitions int32) error
	consume(ctx context.Context, topic string, records int64) (Result, error)
	e2e(ctx context.Context, topic string, o E2EOptions) (Result, error)
	drop(ctx context.Context, topic string) error
	stop() error
}

// kafkaPeer is a Kafka-protocol broker driven by this package's kgo
// generator: Gregor as a subprocess (or three), or kfake (a subprocess in
// Compare, in process in this package's tests).
type kafkaPeer struct {
	name    string
	brokers []string
	// replicas is the replication factor of the topics the runs create
	// (0 means 1), and topicConfigs their configs: the cluster peer
	// creates rf=3 topics with min.insync.replicas=2.
	replicas     int16
	topicConfigs map[string]*string
	// warmUp writes one empty record with acks=all to every partition of
	// a topic it creates, before the run: see warmUpTopic.
	warmUp bool
	mu     sync.Mutex
	warmed map[string]int64 // topic -> warm-up records in it
	// fetchMaxPartitionBytes is ConsumeOptions.FetchMaxPartitionBytes of
	// the peer's consumers (0: the client's default).
	fetchMaxPartitionBytes int32
	close                  func() error
}

func (p *kafkaPeer) id() string { return p.name }

func (p *kafkaPeer) produce(ctx context.Context, s produceSpec) (Result, error) {
	if err := p.prepare(ctx, s.topic, s.partitions); err != nil {
		return Result{}, err
	}
	o := DefaultProduceOptions()
	// Partitions 0: the topic exists (prepare made it with the peer's
	// replication factor), Produce must not create it.
	o.Brokers, o.Topic, o.Partitions = p.brokers, s.topic, 0
	o.RecordSize, o.Records, o.Acks = s.size, s.records, s.acks
	o.Idempotent = s.acks == "all"
	return Produce(ctx, o)
}

func (p *kafkaPeer) prepare(ctx context.Context, topic string, partitions int32) error {
	created, err := createTopicOnce(ctx, p.brokers, topic, partitions, max(p.replicas, 1), p.topicConfigs)
	if err != nil || !created || !p.warmUp {
		return err
	}
	if err := warmUpTopic(ctx, p.brokers, topic, partitions); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.warmed == nil {
		p.warmed = map[string]int64{}
	}
	p.warmed[topic] = int64(partitions)
	return nil
}

// warmUps is how many warm-up records prepare wrote to topic.
func (p *kafkaPeer) warmUps(topic string) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.warmed[topic]
}

func (p *kafkaPeer) consume(ctx context.Context, topic string, records int64) (Result, error) {
	// The warm-up records come first in their partitions and are empty:
	// reading them too, and not counting them, leaves both figures those
	// of the measured records.
	var w int64
	if records > 0 {
		w = p.warmUps(topic)
	}
	res, err := Consume(ctx, ConsumeOptions{Brokers: p.brokers, Topic: topic, Records: records + w, FetchMaxPartitionBytes: p.fetchMaxPartitionBytes})
	res.Records = max(res.Records-w, 0)
	return res, err
}

// consumeKcat is consume with kcat (ConsumeKcat); warm-up records are
// read and not counted, as in consume.
func (p *kafkaPeer) consumeKcat(ctx context.Context, bin, topic string, records int64, valueSize int) (Result, error) {
	w := p.warmUps(topic)
	res, err := ConsumeKcat(ctx, bin, p.brokers, topic, records+w, valueSize)
	res.Records = max(res.Records-w, 0)
	res.Bytes = res.Records * int64(valueSize)
	return res, err
}

func (p *kafkaPeer) e2e(ctx context.Context, topic string, o E2EOptions) (Result, error) {
	if err := p.prepare(ctx, topic, max(o.Partitions, 1)); err != nil {
		return Result{}, err
	}
	o.Brokers, o.Topic, o.Partitions = p.brokers, topic, 0
	return EndToEnd(ctx, o)
}

func (p *kafkaPeer) drop(ctx context.Context, topic string) error {
	p.mu.Lock()
	delete(p.warmed, topic)
	p.mu.Unlock()
	return DeleteTopic(ctx, p.brokers, topic)
}

func (p *kafkaPeer) stop() error { return p.close() }

// natsPeer is nats-server with JetStream, driven through nats.go.
type natsPeer struct{ srv *natsServer }

func (p *natsPeer) id() string { return PeerNATS }

func (p *natsPeer) produce(ctx context.Context, s produceSpec) (Result, error) {
	return natsProduce(ctx, natsWorkload{URL: p.srv.url, Stream: s.topic, Subjects: int(s.partitions), RecordSize: s.size, Records: s.records})
}

func (p *natsPeer) prepare(ctx context.Context, topic string, partitions int32) error {
	nc, _, err := natsConnect(ctx, p.srv.url, topic, max(int(partitions), 1))
	if err == nil {
		nc.Close()
	}
	return err
}

func (p *natsPeer) consume(ctx context.Context, topic string, records int64) (Result, error) {
	return natsConsume(ctx, natsWorkload{URL: p.srv.url, Stream: topic, Records: records})
}

func (p *natsPeer) e2e(ctx context.Context, topic string, o E2EOptions) (Result, error) {
	return natsEndToEnd(ctx, p.srv.url, topic, o)
}

func (p *natsPeer) drop(ctx context.Context, topic string) error {
	return natsDeleteStream(ctx, p.srv.url, topic)
}

func (p *natsPeer) stop() error { return p.srv.Stop() }

// BuildGregor builds the gregor binary of the module at sourceDir (go
// build ./cmd/gregor) into dir and returns its path.
func BuildGregor(ctx context.Context, sourceDir, dir string) (string, error) {
	out := filepath.Join(dir, "gregor")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/gregor")
	cmd.Dir = sourceDir
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("perf: go build ./cmd/gregor in %s: %w\n%s", sourceDir, err, b)
	}
	return out, nil
}

// sourceRevision returns the git commit of the module at dir, noting
// uncommitted changes to tracked files (the build includes them), or "".
func sourceRevision(ctx context.Context, dir string) string {
	out, err := exec.CommandContext(ctx, "git", "-C", dir, "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return ""
	}
	rev := strings.TrimSpace(string(out))
	st, err := exec.CommandContext(ctx, "git", "-C", dir, "status", "--porcelain", "--untracked-files=no").Output()
	if err == nil && len(bytes.TrimSpace(st)) > 0 {
		rev += " (with uncommitted changes)"
	}
	return rev
}

// binaryRevision returns the VCS revision stamped into a binary (builds
// with -buildvcs), or "".
func binaryRevision(bin string) string {
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return ""
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = " (with uncommitted changes)"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev == "" {
		return ""
	}
	return rev + dirty
}

// startGregor runs `gregor serve` on loopback ports with its data under
// dir: durable by default, page cache mode with pageCache.
func startGregor(ctx context.Context, bin, dir string, pageCache bool) (*kafkaPeer, error) {
	id := PeerGregorDurable
	if pageCache {
		id = PeerGregorPageCache
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	adminPort, err := freePort()
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, fmt.Errorf("perf: gregor dir: %w", err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	args := []string{"serve",
		"--listeners", "PLAINTEXT://" + addr,
		"--admin-listener", "127.0.0.1:" + strconv.Itoa(adminPort),
		"--data-dir", data,
		"--log-level", "warn",
	}
	if pageCache {
		args = append(args, "--set", "log.flush.interval.messages="+pageCacheFlushMessages)
	}
	proc, err := startProcess(id, dir, bin, args...)
	if err != nil {
		return nil, err
	}
	err = proc.waitReady(ctx, 30*time.Second, pingBroker(addr))
	if err != nil {
		_ = proc.Stop()
		return nil, err
	}
	return &kafkaPeer{name: id, brokers: []string{addr}, close: proc.Stop}, nil
}
