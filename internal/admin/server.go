package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// Bounds on what one HTTP client can hold: the endpoints read no bodies, so
// headers and slow clients are all there is to bound.
const (
	readHeaderTimeout = 5 * time.Second
	writeTimeout      = 60 * time.Second // pprof's 30 s CPU profile fits
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 16 << 10
	// shutdownTimeout bounds Close: requests in flight get this long.
	shutdownTimeout = 5 * time.Second
)

// Options configure a Server.
type Options struct {
	// Addr is host:port to bind; port 0 picks a free port.
	Addr string
	// Health returns nil when the node is healthy, else the reason. Nil
	// means always healthy.
	Health func() error
	// Registry is the node's metrics registry; nil serves only the Go and
	// process collectors.
	Registry *prometheus.Registry
	// Pprof mounts net/http/pprof under /debug/pprof/.
	Pprof bool
	// Logger receives server errors; nil discards them.
	Logger *slog.Logger
}

// Server is a running admin endpoint.
type Server struct {
	ln        net.Listener
	srv       *http.Server
	done      chan struct{} // closed when Serve returns
	serveErr  error         // set before done is closed
	closeOnce sync.Once
	closeErr  error
}

// Listen binds opts.Addr and serves in the background.
func Listen(opts Options) (*Server, error) {
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("admin: listen %s: %w", opts.Addr, err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		ln: ln,
		srv: &http.Server{
			Handler:           Handler(opts),
			ReadHeaderTimeout: readHeaderTimeout,
			WriteTimeout:      writeTimeout,
			IdleTimeout:       idleTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		},
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.serveErr = err
			logger.Error("admin server stopped", "err", err)
		}
	}()
	return s, nil
}

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Done is closed when the server stops serving, by Close or by a failure
// (then Err says why).
func (s *Server) Done() <-chan struct{} { return s.done }

// Err is why the server stopped on its own; nil after Close. Valid once
// Done is closed.
func (s *Server) Err() error {
	select {
	case <-s.done:
		return s.serveErr
	default:
		return nil
	}
}

// Close stops accepting, lets requests in flight finish for a bounded
// time, then closes what remains. It may be called more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			s.closeErr = s.srv.Close()
		}
		<-s.done
	})
	return s.closeErr
}

// Handler is the admin endpoint's routes, for tests and for embedding.
func Handler(opts Options) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if opts.Health != nil {
			if err := opts.Health(); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintln(w, strings.Join(strings.Fields(err.Error()), " "))
				return
			}
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(newGatherer(opts.Registry), promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError, // a broken collector must not hide the others
	}))
	if opts.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// gatherer merges the node's registry with Go and process collectors.
// Families the node's registry already has win: registering the Go
// collector in both would make every scrape fail on duplicates.
type gatherer struct {
	node    prometheus.Gatherer // may be nil
	runtime *prometheus.Registry
}

func newGatherer(node *prometheus.Registry) prometheus.Gatherer {
	rt := prometheus.NewRegistry()
	rt.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	g := &gatherer{runtime: rt}
	if node != nil {
		g.node = node
	}
	return g
}

func (g *gatherer) Gather() ([]*dto.MetricFamily, error) {
	var out []*dto.MetricFamily
	var errs []error
	have := map[string]bool{}
	if g.node != nil {
		fams, err := g.node.Gather()
		if err != nil {
			errs = append(errs, err)
		}
		for _, f := range fams {
			have[f.GetName()] = true
		}
		out = append(out, fams...)
	}
	fams, err := g.runtime.Gather()
	if err != nil {
		errs = append(errs, err)
	}
	for _, f := range fams {
		if !have[f.GetName()] {
			out = append(out, f)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out, errors.Join(errs...)
}
