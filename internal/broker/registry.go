package broker

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gregor-log/gregor/internal/fsutil"
	"github.com/gregor-log/gregor/internal/metadata"
	"github.com/gregor-log/gregor/internal/partition"
	"github.com/gregor-log/gregor/internal/storage"
)

// The topic registry: the partitions this broker has open, kept in step
// with the metadata image by reconcile. The image says what should exist;
// reconcile opens, reconfigures and deletes partitions until the registry
// matches. A broker following a Raft quorum later does exactly the same
// on every new image.

var (
	// errUnknownTopicOrPartition: no such topic, or no such partition of it
	// (Kafka's UNKNOWN_TOPIC_OR_PARTITION).
	errUnknownTopicOrPartition = errors.New("broker: unknown topic or partition")
	// errPartitionOffline: the partition exists in the metadata but its log
	// could not be opened (KAFKA_STORAGE_ERROR).
	errPartitionOffline = errors.New("broker: partition offline")
)

// registry is immutable once published.
type registry struct {
	byName map[string]*topicState
	byID   map[metadata.TopicID]*topicState
}

// topicState is one topic's open partitions. Immutable once published.
type topicState struct {
	name       string
	id         metadata.TopicID
	configs    map[string]string // the overrides the partitions run with
	partitions []replica         // index = partition number
}

// replica is one partition on this broker, or why it is offline.
type replica struct {
	p   *partition.Partition
	err error
}

func (b *Broker) currentRegistry() *registry {
	if r := b.registry.Load(); r != nil {
		return r
	}
	return &registry{}
}

// partition returns the open partition, errUnknownTopicOrPartition when
// the topic or partition does not exist, or errPartitionOffline.
func (b *Broker) partition(topic string, index int32) (*partition.Partition, error) {
	t, ok := b.currentRegistry().byName[topic]
	if !ok || index < 0 || int(index) >= len(t.partitions) {
		return nil, errUnknownTopicOrPartition
	}
	r := t.partitions[index]
	if errors.Is(r.err, errNotHostedHere) {
		return nil, fmt.Errorf("%w: %s-%d: %w", partition.ErrNotLeader, topic, index, r.err)
	}
	if r.p == nil {
		return nil, fmt.Errorf("%w: %s-%d: %v", errPartitionOffline, topic, index, r.err)
	}
	return r.p, nil
}

// replicaState is nil when the partition of topic id is open here,
// errUnknownTopicOrPartition when it is not (yet) in the registry, or
// errPartitionOffline.
func (b *Broker) replicaState(id metadata.TopicID, index int32) error {
	t, ok := b.currentRegistry().byID[id]
	if !ok || index < 0 || int(index) >= len(t.partitions) {
		return errUnknownTopicOrPartition
	}
	if err := t.partitions[index].err; err != nil {
		return fmt.Errorf("%w: %v", errPartitionOffline, err)
	}
	return nil
}

// topicNameByID returns the name of the topic with this id.
func (b *Broker) topicNameByID(id [16]byte) (string, bool) {
	t, ok := b.currentRegistry().byID[id]
	if !ok {
		return "", false
	}
	return t.name, true
}

// topicID returns the id of the topic named name.
func (b *Broker) topicID(name string) ([16]byte, bool) {
	t, ok := b.currentRegistry().byName[name]
	if !ok {
		return [16]byte{}, false
	}
	return t.id, true
}

// nodeID is this broker's node.id.
func (b *Broker) nodeID() int32 { return b.cfg.NodeID }

// partitionDir is where a partition's log lives, named as Kafka names it.
func (b *Broker) partitionDir(topic string, index int32) string {
	return filepath.Join(b.cfg.LogDir(), topic+"-"+strconv.Itoa(int(index)))
}

// partitionConfig turns a topic's effective configs into what the
// partition and its log run with.
func (b *Broker) partitionConfig(overrides map[string]string) (partition.Config, error) {
	s, err := b.cfg.TopicSettings(overrides)
	return partition.Config{
		Storage: storage.Config{
			SegmentBytes:       int64(s.SegmentBytes),
			SegmentMs:          msDuration(s.SegmentMs),
			SegmentIndexBytes:  s.SegmentIndexBytes,
			IndexIntervalBytes: s.IndexIntervalBytes,
			FlushMessages:      s.FlushMessages,
			FlushMs:            msDuration(s.FlushMs),
			// Retention and compaction (storage/retention.go, storage/cleaner.go).
			CleanupDelete:          s.DeleteByRetention,
			CleanupCompact:         s.Compacted,
			RetentionMs:            msDuration(s.RetentionMs),
			RetentionBytes:         s.RetentionBytes,
			FileDeleteDelayMs:      msDuration(s.FileDeleteDelayMs),
			DeleteRetentionMs:      msDuration(s.DeleteRetentionMs),
			MinCompactionLagMs:     msDuration(s.MinCompactionLagMs),
			MaxCompactionLagMs:     msDuration(s.MaxCompactionLagMs),
			MinCleanableDirtyRatio: s.MinCleanableDirtyRatio,
		},
		MaxMessageBytes:   s.MaxMessageBytes,
		LogAppendTime:     s.LogAppendTime,
		Compacted:         s.Compacted,
		MinInsyncReplicas: int(s.MinInsyncReplicas),
		// A broker-wide setting: idle producers' state expires after it.
		ProducerIDExpirationMs: int64(b.cfg.ProducerIDExpirationMs),
		// Read only by replicated partitions (partition/hwcheckpoint.go).
		HighWatermarkCheckpointInterval: msDuration(b.cfg.ReplicaHighWatermarkCheckpointIntervalMs),
		// partition.Config reads 0 as "no limit"; Kafka's 0 means "no
		// difference allowed", which 1 ms expresses.
		MessageTimestampBeforeMaxMs: max(s.MessageTimestampBeforeMaxMs, 1),
		MessageTimestampAfterMaxMs:  max(s.MessageTimestampAfterMaxMs, 1),
	}, err
}

// msDuration converts milliseconds, saturating instead of overflowing
// (Kafka's "Long.MaxValue" means never).
func msDuration(ms int64) time.Duration {
	if ms > int64(time.Duration(1<<63-1)/time.Millisecond) {
		return time.Duration(1<<63 - 1)
	}
	return time.Duration(ms) * time.Millisecond
}

// reconcile makes the open partitions match img: deleted topics are
// closed and their data removed, new topics and partitions opened, and
// changed configs applied live. The caller holds controlMu (or is New).
// Failures to open leave the partition offline; they are logged, not
// fatal, so that one bad disk directory does not keep the broker down.
func (b *Broker) reconcile(img *metadata.Image) {
	old := b.currentRegistry()
	var jobs []openJob
	next := &registry{byName: map[string]*topicState{}, byID: map[metadata.TopicID]*topicState{}}

	// Deletions first: a topic deleted and recreated under the same name
	// must have its old directories gone before the new ones open.
	for _, t := range old.byName {
		if cur, ok := img.Topic(t.name); ok && cur.ID == t.id {
			continue
		}
		for i, r := range t.partitions {
			b.forgetReplica(t.id, int32(i))
			if r.p == nil {
				os.RemoveAll(b.partitionDir(t.name, int32(i)))
				continue
			}
			if err := r.p.Delete(); err != nil {
				b.log.Error("deleting partition", "topic", t.name, "partition", i, "err", err)
			}
		}
		b.log.Info("topic deleted", "topic", t.name, "id", metadata.TopicID(t.id))
	}

	for _, mt := range img.Topics() {
		prev, ok := old.byName[mt.Name]
		if ok && prev.id != mt.ID {
			prev, ok = nil, false
		}
		configChanged := ok && !maps.Equal(prev.configs, mt.Configs)
		if ok && !configChanged && len(prev.partitions) == len(mt.Partitions) && !b.hostingChanged(prev, mt) {
			// Unchanged: share the published state (it is immutable).
			next.byName[prev.name], next.byID[prev.id] = prev, prev
			continue
		}
		t := &topicState{name: mt.Name, id: mt.ID, configs: mt.Configs}
		if ok {
			t.partitions = append(t.partitions, prev.partitions...)
		}
		pcfg, err := b.partitionConfig(mt.Configs)
		if err != nil {
			b.log.Error("topic has an invalid config; using broker defaults for it", "topic", mt.Name, "err", err)
		}
		if configChanged {
			for _, r := range t.partitions {
				if r.p != nil {
					r.p.SetConfig(pcfg)
				}
			}
		}
		// A reassignment moves replicas on and off this broker (cluster_reassign.go).
		jobs = append(jobs, b.moveReplicas(t, mt, pcfg)...)
		have := len(t.partitions)
		t.partitions = append(t.partitions, make([]replica, len(mt.Partitions)-have)...)
		for i := have; i < len(mt.Partitions); i++ {
			if !b.hostsReplica(mt.Partitions[i]) {
				t.partitions[i] = b.notHostedReplica(mt, int32(i)) // cluster.go, cluster_reassign.go
				continue
			}
			jobs = append(jobs, openJob{topic: mt, state: t, index: int32(i), cfg: pcfg})
		}
		next.byName[t.name] = t
		next.byID[t.id] = t
	}
	b.openReplicas(jobs)
	for _, t := range next.byName {
		if _, existed := old.byName[t.name]; !existed || old.byName[t.name].id != t.id {
			b.log.Info("topic opened", "topic", t.name, "id", t.id, "partitions", len(t.partitions))
		}
	}
	// Roles before publishing: a new replica must not take produces as
	// a single-node leader before it knows it is a follower.
	b.applyRoles(img, next)
	b.registry.Store(next)
}

// openJob is one partition reconcile must open.
type openJob struct {
	topic *metadata.Topic
	state *topicState
	index int32
	cfg   partition.Config
}

// openWorkers bounds how many partitions open at once: opening is a few
// syscalls and maybe a recovery scan each, so some parallelism hides
// their latency at startup without flooding the disk.
const openWorkers = 8

// openReplicas opens the jobs' partitions in parallel and stores each
// result in its topicState (each job owns its own slot).
func (b *Broker) openReplicas(jobs []openJob) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, openWorkers)
	for _, j := range jobs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			j.state.partitions[j.index] = b.openReplica(j.topic, j.index, j.cfg)
		})
	}
	wg.Wait()
}

// partitionMetadataFile is Kafka's per-partition file recording the topic
// id, so a directory left by a deleted topic is never mistaken for the
// data of a new topic with the same name.
const partitionMetadataFile = "partition.metadata"

func (b *Broker) openReplica(t *metadata.Topic, index int32, cfg partition.Config) replica {
	dir := b.partitionDir(t.Name, index)
	if id, ok := readPartitionMetadata(dir); ok && id != t.ID {
		b.log.Warn("removing a stale partition directory of an older topic with the same name",
			"dir", dir, "old_id", id, "id", t.ID)
		if err := os.RemoveAll(dir); err != nil {
			return replica{err: err}
		}
	}
	p, err := partition.Open(dir, t.Name, index, cfg)
	if err != nil {
		b.log.Error("partition offline: cannot open its log", "topic", t.Name, "partition", index, "err", err)
		return replica{err: err}
	}
	if err := writePartitionMetadata(dir, t.ID); err != nil {
		b.log.Error("writing partition metadata", "dir", dir, "err", err)
	}
	return replica{p: p}
}

func readPartitionMetadata(dir string) (metadata.TopicID, bool) {
	raw, err := os.ReadFile(filepath.Join(dir, partitionMetadataFile))
	if err != nil {
		return metadata.TopicID{}, false
	}
	for line := range strings.Lines(string(raw)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "topic_id:"); ok {
			return parseTopicID(strings.TrimSpace(v))
		}
	}
	return metadata.TopicID{}, false
}

func writePartitionMetadata(dir string, id metadata.TopicID) error {
	path := filepath.Join(dir, partitionMetadataFile)
	if cur, ok := readPartitionMetadata(dir); ok && cur == id {
		return nil
	}
	return fsutil.WriteFileAtomic(path, fmt.Appendf(nil, "version: 0\ntopic_id: %s\n", id))
}

// removeOrphans deletes partition directories whose partition.metadata
// names a topic id the image does not have (a crash between deleting a
// topic's metadata and its data). Directories without that file are left
// alone: they are not provably ours.
func (b *Broker) removeOrphans(img *metadata.Image) {
	entries, err := os.ReadDir(b.cfg.LogDir())
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !partitionDirName.MatchString(e.Name()) {
			continue
		}
		dir := filepath.Join(b.cfg.LogDir(), e.Name())
		id, ok := readPartitionMetadata(dir)
		if !ok {
			continue
		}
		if _, live := img.TopicByID(id); !live {
			b.log.Warn("removing the directory of a deleted topic", "dir", dir, "id", id)
			os.RemoveAll(dir)
		}
	}
}

var partitionDirName = regexp.MustCompile(`^.+-[0-9]+$`)

func parseTopicID(s string) (metadata.TopicID, bool) {
	id, err := metadata.ParseTopicID(s)
	return id, err == nil
}

// closePartitions closes every open partition (shutdown).
func (b *Broker) closePartitions() error {
	var (
		mu   sync.Mutex
		errs []error
		ps   = make(chan *partition.Partition)
		wg   sync.WaitGroup
	)
	// Each close fsyncs a few files (segment, indexes, checkpoints,
	// producer-state snapshot): one partition after another, a broker
	// with thousands of partitions took tens of seconds to stop. Closing
	// several at once lets the disk merge the fsyncs.
	for range closeParallelism {
		wg.Go(func() {
			for p := range ps {
				if err := p.Close(); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("closing %s-%d: %w", p.Topic, p.Index, err))
					mu.Unlock()
				}
			}
		})
	}
	for _, t := range b.currentRegistry().byName {
		for _, r := range t.partitions {
			if r.p != nil {
				ps <- r.p
			}
		}
	}
	close(ps)
	wg.Wait()
	b.registry.Store(&registry{})
	return errors.Join(errs...)
}

// closeParallelism is how many partitions close at once at shutdown.
const closeParallelism = 16

// flushTick is how often the flush.ms policy is checked. Kafka's
// log.flush.scheduler.interval.ms is the tick, but capped at a second:
// Kafka's default (Long.MaxValue) would silently disable a topic's
// flush.ms, and a check costs a few atomic loads per partition.
func (b *Broker) flushTick() time.Duration {
	return min(max(msDuration(b.cfg.LogFlushSchedulerIntervalMs), 10*time.Millisecond), time.Second)
}

// runFlusher fsyncs the logs whose flush.ms has passed (only relevant when
// flush.messages is above Gregor's default of 1), until done is closed.
func (b *Broker) runFlusher(done <-chan struct{}) {
	t := time.NewTicker(b.flushTick())
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			for _, ts := range b.currentRegistry().byName {
				for _, r := range ts.partitions {
					if r.p == nil || r.p.Log == nil {
						continue
					}
					if err := r.p.Log.FlushIfDue(now); err != nil {
						b.log.Error("scheduled flush failed", "topic", ts.name, "partition", r.p.Index, "err", err)
					}
				}
			}
		}
	}
}
