package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/gregor-log/gregor/internal/config"
	"github.com/gregor-log/gregor/internal/metadata"
	"github.com/gregor-log/gregor/internal/replication"
	"github.com/gregor-log/gregor/internal/wire"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handlerFunc answers one API request; see wire.Handler for what it returns.
type handlerFunc func(ctx context.Context, b *Broker, req *wire.Request) (any, error)

// api is one Kafka API as this broker implements it. Only versions that are
// really implemented are advertised in ApiVersions.
type api struct {
	key        int16
	minVersion int16
	maxVersion int16
	handle     handlerFunc
}

// apis is filled by the init function of each API's own file (00_produce.go,
// 01_fetch.go, ...), so adding an API touches one file.
var apis = map[int16]api{}

func register(key kmsg.Key, minVersion, maxVersion int16, fn handlerFunc) {
	if _, dup := apis[int16(key)]; dup {
		panic("broker: API registered twice: " + key.Name())
	}
	apis[int16(key)] = api{key: int16(key), minVersion: minVersion, maxVersion: maxVersion, handle: fn}
}

// apiRanges lists the registered APIs for the wire server, sorted by key.
func apiRanges() []wire.APIRange {
	out := make([]wire.APIRange, 0, len(apis))
	for _, a := range apis {
		out = append(out, wire.APIRange{Key: a.key, MinVersion: a.minVersion, MaxVersion: a.maxVersion})
	}
	slices.SortFunc(out, func(a, b wire.APIRange) int { return int(a.Key) - int(b.Key) })
	return out
}

// Broker is one node: its topics and partitions, and the handlers for every
// API. State is grouped by owner: controlState (topics, configs, metadata),
// dataState (produce/fetch: producer ids, fetch sessions) and groupState
// (the group coordinator).
type Broker struct {
	log *slog.Logger
	// dial, if set, opens inter-node connections (WithDialer).
	dial Dialer
	// cluster is the replication state of a multi-node cluster
	// (cluster.go); nil on a single node.
	cluster *clusterState
	// quotas are the replication quotas (cluster_throttle.go), set when
	// the broker is built: fetch handlers read them without controlMu.
	quotas *replicationQuotas
	controlState
	dataState
	groupState
}

var _ wire.Handler = (*Broker)(nil)

// Option changes how New builds a broker in ways that are not
// configuration a user sets: hooks for tests and embedding programs.
type Option func(*Broker)

// Dialer is how a broker opens its connections to other nodes.
type Dialer func(ctx context.Context, network, addr string) (net.Conn, error)

// WithDialer makes every inter-node connection (Raft transport, follower
// fetches, requests to the controller) go through d. The fault-injection
// suite uses it to send each link through a proxy it can cut.
func WithDialer(d Dialer) Option { return func(b *Broker) { b.dial = d } }

// metadataDirName is the metadata log's directory under log.dirs, named as
// KRaft names its own; the topic name __cluster_metadata is reserved.
const metadataDirName = "__cluster_metadata-0"

// lockFileName is flocked by the running broker so that a second one on
// the same data directory fails fast instead of corrupting it.
const lockFileName = ".lock"

// New opens the data directory: the metadata log and every partition it
// lists. It binds nothing; Start does.
func New(cfg *config.Config, logger *slog.Logger, opts ...Option) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	b := &Broker{log: logger.With("node", cfg.NodeID), quotas: &replicationQuotas{leader: replication.NewThrottle()}}
	for _, o := range opts {
		o(b)
	}
	b.cfg = cfg
	b.stop = make(chan struct{})
	b.setFetchMaxBytes(cfg.FetchMaxBytes)
	b.setFetchSessionCacheSlots(int(cfg.MaxIncrementalFetchSessionCacheSlots))
	dir := cfg.LogDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("broker: data dir: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	b.lockFile = lock

	if cfg.Clustered() {
		// The Raft quorum (cluster.go); the active controller gives a new
		// cluster its id.
		store, err := b.openQuorum(dir)
		if err != nil {
			lock.Close()
			return nil, err
		}
		b.store = store
	} else if err := b.openLocalStore(dir); err != nil {
		lock.Close()
		return nil, err
	}
	img := b.store.Image()
	b.log.Info("metadata loaded", "cluster_id", img.ClusterID, "topics", img.NumTopics(), "records", img.Offset)

	b.metrics = prometheus.NewRegistry()
	b.metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	b.wireMetrics = wire.NewMetrics(b.metrics)
	b.registerControlMetrics()

	// Dynamic broker configs first: partitions open with the topic
	// defaults they give.
	cfg.SetDynamic(b.dynamicBrokerConfigs(img))
	b.removeOrphans(img)
	b.reconcile(img)
	b.server = wire.NewServer(b, wire.Options{
		MaxRequestBytes: cfg.SocketRequestMaxBytes,
		APIs:            b.advertisedAPIs(),
		IdleTimeout:     msDuration(cfg.ConnectionsMaxIdleMs),
		Logger:          b.log,
		Metrics:         b.wireMetrics,
	})
	return b, nil
}

// openLocalStore opens a single node's metadata log, giving a new
// cluster its id.
func (b *Broker) openLocalStore(dir string) error {
	store, torn, err := metadata.OpenLocal(filepath.Join(dir, metadataDirName))
	if err != nil {
		return err
	}
	if torn > 0 {
		b.log.Warn("metadata log had a torn tail; truncated", "bytes", torn)
	}
	b.store = store
	if store.Image().ClusterID == "" {
		if err := store.Append(&metadata.ClusterRecord{ClusterID: metadata.NewClusterID()}); err != nil {
			store.Close()
			return err
		}
	}
	return nil
}

func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFileName), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("broker: data directory %s is in use by another broker: %w", dir, err)
	}
	return f, nil
}

// Handle implements wire.Handler: it dispatches to the API's handler.
func (b *Broker) Handle(ctx context.Context, req *wire.Request) (any, error) {
	a, ok := b.lookupAPI(req.Key)
	if !ok || req.Version < a.minVersion || req.Version > a.maxVersion {
		// The wire server refuses these before decoding; reaching here is a bug.
		return nil, fmt.Errorf("broker: %s v%d not implemented", kmsg.Key(req.Key).Name(), req.Version)
	}
	return a.handle(ctx, b, req)
}

// Start binds the listeners (logging each address) and serves them in the
// background. ctx bounds only the binding; Close stops the broker.
func (b *Broker) Start(ctx context.Context) error {
	b.lifecycle.Lock()
	if b.lifecycle.closed {
		b.lifecycle.Unlock()
		return errors.New("broker: closed")
	}
	if b.lifecycle.started {
		b.lifecycle.Unlock()
		return errors.New("broker: already started")
	}
	b.lifecycle.started = true
	b.lifecycle.Unlock()

	lns, err := b.listen(ctx)
	if err != nil {
		return err
	}
	advertised := b.advertisedEndpoints(lns)
	b.lifecycle.Lock()
	b.lifecycle.listeners = lns
	b.lifecycle.advertised = advertised
	closed := b.lifecycle.closed
	b.lifecycle.Unlock()
	if closed {
		for _, ln := range lns {
			ln.Close()
		}
		return errors.New("broker: closed")
	}
	register := b.registerSelf
	if b.clustered() {
		register = b.startCluster // registers with the active controller
	}
	if err := register(advertised); err != nil {
		for _, ln := range lns {
			ln.Close()
		}
		return err
	}
	for _, ln := range lns {
		b.log.Info("listening", "addr", ln.Addr().String())
		go b.server.Serve(ln)
	}
	b.background.Go(func() { b.runFlusher(b.stop) })
	// Retention and compaction: one goroutine each for the whole broker
	// (retention.go, cleaner.go); Close stops them before the partitions.
	b.background.Go(func() { b.runRetention(b.stop) })
	b.background.Go(func() { b.runCleaner(b.stop) })
	return nil
}

// registerSelf records this broker's registration in the metadata when it
// changed (new endpoints, rack).
func (b *Broker) registerSelf(endpoints []metadata.Endpoint) error {
	b.controlMu.Lock()
	defer b.controlMu.Unlock()
	rec := &metadata.BrokerRecord{NodeID: b.cfg.NodeID, Rack: b.cfg.BrokerRack, Endpoints: endpoints}
	if cur, ok := b.store.Image().Broker(rec.NodeID); ok && cur.Rack == rec.Rack && slices.Equal(cur.Endpoints, rec.Endpoints) {
		return nil
	}
	return b.store.Append(rec)
}

// Addrs returns the bound listener addresses (tests bind port 0).
func (b *Broker) Addrs() []net.Addr {
	b.lifecycle.Lock()
	defer b.lifecycle.Unlock()
	out := make([]net.Addr, len(b.lifecycle.listeners))
	for i, ln := range b.lifecycle.listeners {
		out[i] = ln.Addr()
	}
	return out
}

// Metrics is this broker's Prometheus registry.
func (b *Broker) Metrics() *prometheus.Registry { return b.metrics }

// Healthy returns nil while the broker is started and its metadata log
// writable.
func (b *Broker) Healthy() error {
	b.lifecycle.Lock()
	started, closed := b.lifecycle.started, b.lifecycle.closed
	b.lifecycle.Unlock()
	switch {
	case closed:
		return errors.New("broker: closed")
	case !started:
		return errors.New("broker: not started")
	}
	if s, ok := b.store.(*metadata.LocalStore); ok && s.Broken() {
		return errors.New("broker: metadata log is not writable")
	}
	return nil
}

// Close stops accepting, closes every connection (cancelling requests in
// flight), then closes the partitions and the metadata log. It may be
// called more than once.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		b.lifecycle.Lock()
		b.lifecycle.closed = true
		b.lifecycle.Unlock()
		b.controlledShutdown() // a cluster's leaderships move first
		errs := []error{b.server.Close()}
		close(b.stop)
		b.background.Wait()
		b.closeCluster()
		b.closeGroupCoordinator()
		b.controlMu.Lock()
		errs = append(errs, b.closePartitions(), b.store.Close())
		b.controlMu.Unlock()
		errs = append(errs, b.lockFile.Close())
		b.closeErr = errors.Join(errs...)
		b.log.Info("broker closed")
	})
	return b.closeErr
}
