package broker

import (
	"net"
	"os"
	"sync"
	"sync/atomic"

	"github.com/gregor-log/gregor/internal/config"
	"github.com/gregor-log/gregor/internal/metadata"
	"github.com/gregor-log/gregor/internal/wire"
	"github.com/prometheus/client_golang/prometheus"
)

// controlState is owned by the control plane: topics, configs, metadata,
// listeners and metrics.
type controlState struct {
	cfg   *config.Config
	store metadata.Store
	// lockFile holds the flock that keeps a second broker off the data dir.
	lockFile *os.File

	metrics     *prometheus.Registry
	wireMetrics *wire.Metrics
	server      *wire.Server

	// registry is the open partitions, rebuilt copy-on-write by reconcile
	// and read lock-free by every produce and fetch.
	registry atomic.Pointer[registry]

	// controlMu serialises control-plane changes (topic creation,
	// deletion, config changes): each reads the image, appends records,
	// then reconciles the open partitions with the new image.
	controlMu sync.Mutex

	lifecycle struct {
		sync.Mutex
		started   bool
		closed    bool
		listeners []net.Listener
		// advertised are the endpoints given to clients, with bound ports.
		advertised []metadata.Endpoint
	}
	// background goroutines (the flusher) stop when stop is closed.
	stop       chan struct{}
	background sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}
