// Command gregor-bench-peers runs perf.Compare: Gregor against NATS
// JetStream and kfake, and the machine's own limits, on this machine. The
// markdown report goes to stdout, progress to stderr.
//
// The documented way is `gregor bench compare`, which benchmarks the
// gregor binary that runs it. This command, with the same flags, stays for
// working in a checkout: without --gregor it builds ./cmd/gregor from the
// source tree first, so one `go run` measures the code as it is now:
//
//	go run ./cmd/gregor-bench-peers > report.md
//	go run ./cmd/gregor-bench-peers --quick --peers gregor-pagecache,kfake
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/gregor-log/gregor/internal/perf"
	"github.com/spf13/pflag"
)

func main() {
	// The kfake peer is this binary re-executed; such a child serves kfake
	// and exits here.
	perf.ServeKfakeChild()
	var o perf.CompareOptions
	fs := pflag.NewFlagSet("gregor-bench-peers", pflag.ContinueOnError)
	perf.RegisterCompareFlags(fs, &o)
	if err := fs.Parse(os.Args[1:]); err != nil {
		if err == pflag.ErrHelp {
			os.Exit(0)
		}
		os.Exit(2)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "gregor-bench-peers: unexpected arguments %q\n", fs.Args())
		os.Exit(2)
	}
	o.Command = command(os.Args)
	o.Progress = os.Stderr
	// A signal cancels the run; Compare then stops the servers it started.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := perf.Compare(ctx, o, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "gregor-bench-peers: %v\n", err)
		stop()
		os.Exit(1)
	}
}

// command rebuilds how this run was started, for the report: `go run`
// leaves the binary in a build cache directory, which says nothing to a
// reader, so that case prints the go run form.
func command(args []string) string {
	name := filepath.Base(args[0])
	if strings.Contains(args[0], "go-build") {
		name = "go run ./cmd/gregor-bench-peers"
	}
	if len(args) == 1 {
		return name
	}
	return name + " " + perf.CommandLine(args[1:]...)
}
