package perf

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// clusterNodes is the size of the cluster peer: three nodes, every one a
// controller voter and a broker, as `gregor dev cluster --nodes 3` runs.
const clusterNodes = 3

// clusterMinISR is min.insync.replicas of the cluster peer's topics:
// acks=all needs two of the three replicas, Kafka's usual production
// setting for rf=3.
const clusterMinISR = "2"

// clusterReadyTimeout bounds the cluster's start: electing a Raft leader,
// registering and unfencing three brokers, and one rf=3 acks=all write.
const clusterReadyTimeout = 60 * time.Second

// startGregorCluster runs three `gregor serve` processes of bin on
// loopback, each with its own data directory under dir, in page cache
// mode (the single-node figure the cluster is compared with is that of
// the page cache peer). It returns once the cluster has taken an acks=all
// write to an rf=3 topic, so every broker is registered and unfenced and
// replication works before anything is measured.
func startGregorCluster(ctx context.Context, bin, dir string) (*kafkaPeer, error) {
	ports := make([]int, 3*clusterNodes) // Kafka, Raft, admin for each node
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	kafkaAddr := func(i int) string { return "127.0.0.1:" + strconv.Itoa(ports[i]) }
	raftAddr := func(i int) string { return "127.0.0.1:" + strconv.Itoa(ports[clusterNodes+i]) }
	adminAddr := func(i int) string { return "127.0.0.1:" + strconv.Itoa(ports[2*clusterNodes+i]) }
	voters := make([]string, clusterNodes)
	brokers := make([]string, clusterNodes)
	for i := range clusterNodes {
		voters[i] = fmt.Sprintf("%d@%s", i+1, raftAddr(i))
		brokers[i] = kafkaAddr(i)
	}

	var procs []*process
	// The nodes stop together: one by one, the last ones would shut down
	// without a quorum behind them.
	stopAll := func() error {
		errs := make([]error, len(procs))
		var wg sync.WaitGroup
		for i, p := range procs {
			wg.Go(func() { errs[i] = p.Stop() })
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	for i := range clusterNodes {
		id := i + 1
		data := filepath.Join(dir, "data-"+strconv.Itoa(id))
		if err := os.MkdirAll(data, 0o755); err != nil {
			_ = stopAll()
			return nil, fmt.Errorf("perf: gregor cluster dir: %w", err)
		}
		p, err := startProcess(fmt.Sprintf("%s-node%d", PeerGregorCluster3, id), dir, bin, "serve",
			"--node-id", strconv.Itoa(id),
			"--listeners", "PLAINTEXT://"+kafkaAddr(i),
			"--admin-listener", adminAddr(i),
			"--controller-voters", strings.Join(voters, ","),
			"--controller-listener", raftAddr(i),
			"--data-dir", data,
			"--log-level", "warn",
			"--set", "log.flush.interval.messages="+pageCacheFlushMessages,
		)
		if err != nil {
			_ = stopAll()
			return nil, err
		}
		procs = append(procs, p)
	}
	peer := &kafkaPeer{
		name:         PeerGregorCluster3,
		brokers:      brokers,
		replicas:     clusterNodes,
		topicConfigs: map[string]*string{"min.insync.replicas": kadm.StringPtr(clusterMinISR)},
		warmUp:       true,
		close:        stopAll,
	}
	readyCtx, cancel := context.WithTimeout(ctx, clusterReadyTimeout)
	defer cancel()
	// Every node's process must stay up while the cluster forms: a node
	// that exits fails the start at once, not at the deadline.
	exited := make(chan *process, len(procs))
	for _, p := range procs {
		go func() {
			select {
			case <-p.exited:
				exited <- p
			case <-readyCtx.Done():
			}
		}()
	}
	err := waitClusterReady(readyCtx, peer, exited)
	if err != nil {
		_ = stopAll()
		return nil, err
	}
	return peer, nil
}

// waitClusterReady retries, until ctx ends, what a measured run needs
// from the cluster: Metadata listing every broker, then one record
// written with acks=all to an rf=3 topic with min.insync.replicas=2
// (which the controller only places once all brokers are unfenced).
func waitClusterReady(ctx context.Context, p *kafkaPeer, exited <-chan *process) error {
	const topic = "bench-cluster-ready"
	var last error
	for {
		last = clusterProbe(ctx, p, topic)
		if last == nil {
			return p.drop(ctx, topic)
		}
		select {
		case proc := <-exited:
			return fmt.Errorf("perf: %s exited while the cluster formed (%v); see %s", proc.name, proc.err, proc.log.Name())
		case <-ctx.Done():
			return fmt.Errorf("perf: %s not ready within %v: %w", p.name, clusterReadyTimeout, errors.Join(last, ctx.Err()))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// clusterProbe is one readiness attempt of waitClusterReady.
func clusterProbe(ctx context.Context, p *kafkaPeer, topic string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.brokers...), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		return err
	}
	defer cl.Close()
	md, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err != nil {
		return err
	}
	if len(md.Brokers) < clusterNodes {
		return fmt.Errorf("metadata lists %d of %d brokers", len(md.Brokers), clusterNodes)
	}
	if err := p.prepare(ctx, topic, 1); err != nil {
		return err
	}
	return cl.ProduceSync(ctx, &kgo.Record{Value: []byte("ready")}).FirstErr()
}

// warmUpTopic writes one empty record with acks=all to every partition
// of a new topic and returns when all are acknowledged.
//
// Why: on a fresh partition a follower's first fetch can reach the leader
// before the leader has opened the partition; the error sets the follower
// back by replica.fetch.backoff.ms (1 s by default), and every acks=all
// produce in that second waits for it. The runs measure replication's
// steady state, so that one-off start-up wait is paid here, outside the
// clock. The records are empty so the consumers can tell them apart.
func warmUpTopic(ctx context.Context, brokers []string, topic string, partitions int32) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return fmt.Errorf("perf: client: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, drainTimeout)
	defer cancel()
	recs := make([]*kgo.Record, partitions)
	for i := range recs {
		recs[i] = &kgo.Record{Partition: int32(i), Value: []byte{}}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("perf: warm up %s: %w", topic, err)
	}
	return nil
}
