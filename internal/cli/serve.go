package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/gregor-log/gregor/internal/admin"
	"github.com/gregor-log/gregor/internal/config"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// node is what serve runs; *broker.Broker is one (see serve_node.go).
type node interface {
	Start(ctx context.Context) error
	Addrs() []net.Addr
	Close() error
	Metrics() *prometheus.Registry
	Healthy() error
}

type serveOptions struct {
	configFile string
	sets       []string
	logLevel   string
	pprof      bool
	// The convenience flags are read through serveFlagKeys.
	nodeID                               int32
	listeners, advertised, dataDir, adml string
	voters, controllerListener           string
}

// serveFlagKeys maps each convenience flag of serve to its config name.
var serveFlagKeys = []struct{ flag, key string }{
	{"node-id", "node.id"},
	{"listeners", "listeners"},
	{"advertised-listeners", "advertised.listeners"},
	{"data-dir", "log.dirs"},
	{"admin-listener", "admin.listener"},
	{"controller-voters", "controller.quorum.voters"},
	{"controller-listener", "controller.listener"},
}

func (a *app) serveCommand() *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a Gregor node",
		Long: `Run a Gregor node: a Kafka-compatible broker and its HTTP admin endpoint
(/healthz, /metrics, and /debug/pprof/ with --pprof).

With no flags it is a complete one-node cluster listening on localhost:9092
(both 127.0.0.1 and ::1), keeping data in ./gregor-data, with the admin
endpoint on 127.0.0.1:9644.

Configs use Kafka's broker config names (log.dirs, log.retention.ms,
num.partitions, ...). Each is taken from, strongest last:
  1. the defaults
  2. the YAML file of --config (a flat map of config names to values)
  3. GREGOR_* environment variables: GREGOR_LOG_RETENTION_MS=60000 sets
     log.retention.ms (strip the prefix, lower-case, "_" becomes ".")
  4. flags: --set NAME=VALUE and the convenience flags below (--data-dir is
     log.dirs, --node-id is node.id, ...); a --set and a convenience flag
     that disagree on one config are an error.
Above all four, the defaults of topic configs (log.retention.ms,
log.segment.bytes, message.max.bytes, ...) can be changed while the node
runs with "gregor cluster config set"; those changes are kept in the
cluster metadata and survive restarts.

SIGINT or SIGTERM shuts the node down cleanly (exit 0).`,
		Example: `  gregor serve
  gregor serve --data-dir /var/lib/gregor --listeners PLAINTEXT://0.0.0.0:9092 \
      --advertised-listeners PLAINTEXT://kafka-1.example.com:9092
  gregor serve --config gregor.yaml --set log.retention.ms=3600000
  GREGOR_NUM_PARTITIONS=6 gregor serve --log-level debug
  gregor serve --node-id 1 --controller-listener 10.0.0.1:9093 \
      --controller-voters 1@10.0.0.1:9093,2@10.0.0.2:9093,3@10.0.0.3:9093
  # a fourth broker, not a voter: it joins the quorum as a learner
  gregor serve --node-id 4 --controller-listener 10.0.0.4:9093 \
      --controller-voters 1@10.0.0.1:9093,2@10.0.0.2:9093,3@10.0.0.3:9093`,
		Args: exactArgs(),
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			return a.serve(cmd, &o)
		}),
	}
	fs := cmd.Flags()
	fs.StringVar(&o.configFile, "config", "", "YAML config file with Kafka config names")
	fs.StringArrayVar(&o.sets, "set", nil, "set any config NAME=VALUE (repeatable)")
	// Defaults shown in the help are the config's own, so they cannot drift.
	def := config.Default()
	fs.Int32Var(&o.nodeID, "node-id", def.NodeID, "node.id: this node's id")
	fs.StringVar(&o.listeners, "listeners", strings.Join(def.Listeners, ","), "listeners: comma-separated NAME://host:port to bind")
	fs.StringVar(&o.advertised, "advertised-listeners", strings.Join(def.AdvertisedListeners, ","), "advertised.listeners: the addresses clients are told (default: the bound listeners)")
	fs.StringVar(&o.dataDir, "data-dir", strings.Join(def.LogDirs, ","), "log.dirs: the data directory")
	fs.StringVar(&o.adml, "admin-listener", def.AdminListener, `admin.listener: host:port of the HTTP admin endpoint ("" disables it)`)
	fs.StringVar(&o.voters, "controller-voters", "", "controller.quorum.voters: Raft voters id@host:port,... (a node not listed joins as a learner; empty: a single-node cluster)")
	fs.StringVar(&o.controllerListener, "controller-listener", "", "controller.listener: host:port of this node's Raft transport")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.BoolVar(&o.pprof, "pprof", false, "serve /debug/pprof/ on the admin endpoint")
	return cmd
}

// serveOverrides turns the flags that were given into config overrides.
// Flags left at their defaults are not overrides: they would hide the
// values of the file and the environment.
func serveOverrides(fs *pflag.FlagSet, sets []string) (map[string]string, error) {
	out, err := parseKeyValues("set", sets)
	if err != nil {
		return nil, err
	}
	for _, fk := range serveFlagKeys {
		f := fs.Lookup(fk.flag)
		if f == nil || !f.Changed {
			continue
		}
		v := f.Value.String()
		if prev, ok := out[fk.key]; ok && prev != v {
			return nil, usageErrorf("--%s=%s and --set %s=%s disagree", fk.flag, v, fk.key, prev)
		}
		out[fk.key] = v
	}
	return out, nil
}

func parseLogLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, usageErrorf("--log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

func (a *app) serve(cmd *cobra.Command, o *serveOptions) error {
	overrides, err := serveOverrides(cmd.Flags(), o.sets)
	if err != nil {
		return err
	}
	level, err := parseLogLevel(o.logLevel)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))

	// GREGOR_BROKERS configures the client commands, not the broker; the
	// config loader would reject it as an unknown broker config.
	os.Unsetenv(envBrokers)
	cfg, err := config.Load(o.configFile, overrides)
	if err != nil {
		return usageErrorf("%v", err)
	}
	n, err := newNode(cfg, logger)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if err := n.Start(ctx); err != nil {
		n.Close()
		return err
	}
	var adm *admin.Server
	if cfg.AdminListener != "" {
		adm, err = admin.Listen(admin.Options{
			Addr:     cfg.AdminListener,
			Health:   n.Healthy,
			Registry: n.Metrics(),
			Pprof:    o.pprof,
			Logger:   logger,
		})
		if err != nil {
			n.Close()
			return err
		}
	}
	addrs := make([]string, 0, len(n.Addrs()))
	for _, ad := range n.Addrs() {
		addrs = append(addrs, ad.String())
	}
	attrs := []any{"node", cfg.NodeID, "kafka", strings.Join(addrs, ","), "data", cfg.LogDir()}
	if adm != nil {
		attrs = append(attrs, "admin", "http://"+adm.Addr().String())
	}
	logger.Info("gregor serving", attrs...)

	var runErr error
	var admDone <-chan struct{}
	if adm != nil {
		admDone = adm.Done()
	}
	select {
	case <-ctx.Done():
		logger.Info("shutting down", "reason", context.Cause(ctx))
	case <-admDone:
		runErr = fmt.Errorf("admin endpoint: %w", adm.Err())
		logger.Error("shutting down", "err", runErr)
	}
	if adm != nil {
		if err := adm.Close(); err != nil {
			logger.Warn("admin close", "err", err)
		}
	}
	if err := n.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("close: %w", err)
	}
	if runErr == nil {
		logger.Info("stopped cleanly")
	}
	return runErr
}
