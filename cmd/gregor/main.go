// Command gregor is the Gregor binary: `gregor serve` runs a node, and the
// other commands are the client tools. Everything lives in internal/cli;
// main only wires the process to it.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/gregor-log/gregor/internal/cli"
	"github.com/gregor-log/gregor/internal/perf"
)

func main() {
	// `gregor bench compare` runs its kfake peer by re-executing this
	// binary; such a child serves kfake and exits here.
	perf.ServeKfakeChild()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal starts a clean shutdown, restore the
		// default handling so that a second ^C kills a stuck process.
		<-ctx.Done()
		stop()
	}()
	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
