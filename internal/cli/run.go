package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// Exit codes of Run; see the package doc.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitInterrupted = 130 // 128+SIGINT, what shells report for ^C
)

// Run executes the gregor command line args (without the program name) and
// returns the process exit code. ctx carries the process's interrupt: when it
// is canceled, long-running commands (serve, consume) shut down cleanly.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	return a.run(ctx, args)
}

// app is one invocation of the command line: its streams, its environment
// and the values of the flags shared by the client commands.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string // os.Getenv, or a map in tests

	// Shared client flags, bound on every client noun (topic, produce, ...).
	brokersFlag []string
	profileFlag string
	timeout     time.Duration
}

func (a *app) run(ctx context.Context, args []string) int {
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	_, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	code := exitUsage // errors raised by cobra itself: unknown command, bad flag, wrong arguments
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
		err = ee.err
	}
	if code == exitOK {
		return exitOK
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		code, err = exitInterrupted, errors.New("interrupted")
	}
	fmt.Fprintf(a.stderr, "gregor: %s\n", oneLine(err.Error()))
	return code
}

// exitError carries the exit code chosen for an error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErrorf reports bad usage (exit code 2).
func usageErrorf(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// oneLine folds a message onto one line: errors from libraries (and cobra's
// "did you mean" suggestions) may contain newlines, and the contract is one
// line per failure.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// action adapts a command body: its plain errors are run-time failures
// (exit 1), while errors cobra raises before the body runs are usage
// errors (exit 2).
func action(fn func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := fn(cmd, args)
		if err == nil {
			return nil
		}
		var ee *exitError
		if errors.As(err, &ee) {
			return err
		}
		return &exitError{code: exitFailure, err: err}
	}
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "gregor",
		Short: "Gregor: a Kafka-compatible replicated log in one binary",
		Long: `Gregor is a Kafka-compatible broker. This one binary runs a node
(gregor serve) and is the command line client for any Kafka-compatible
cluster: topics, producing, consuming, consumer groups and cluster state.`,
		Example: `  gregor serve
  gregor topic create orders -p 3
  echo hello | gregor produce orders
  gregor consume orders -n 1`,
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		Args:              cobra.ArbitraryArgs,
		RunE:              groupRunE,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitError{code: exitUsage, err: err}
	})
	root.SetHelpCommand(&cobra.Command{
		Use:     "help [command]",
		Short:   "Help about any command",
		Example: "  gregor help topic create",
		Args:    cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			target, rest, err := cmd.Root().Find(args)
			if err != nil || len(rest) > 0 {
				return usageErrorf("unknown help topic %q", strings.Join(args, " "))
			}
			return target.Help()
		},
	})
	root.AddCommand(
		a.serveCommand(),
		a.topicCommand(),
		a.produceCommand(),
		a.consumeCommand(),
		a.groupCommand(),
		a.clusterCommand(),
		a.profileCommand(),
		a.benchCommand(),
		a.devCommand(),
		a.completionCommand(),
	)
	return root
}

// groupRunE is the body of a command that only groups others (topic,
// group, ...): alone it prints help; with an unknown verb it is bad usage
// (cobra would otherwise print help and exit 0 for a typo).
func groupRunE(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf(" (did you mean %q?)", s[0])
	}
	return usageErrorf("%s", msg)
}

// newGroup returns a command that groups verbs under a noun.
func newGroup(use, short, example string, verbs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{
		Use:     use,
		Short:   short,
		Example: example,
		Args:    cobra.ArbitraryArgs,
		RunE:    groupRunE,
		// cobra only sets this default on the root.
		SuggestionsMinimumDistance: 2,
	}
	cmd.AddCommand(verbs...)
	return cmd
}

// exactArgs wants exactly the named positional arguments.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != len(names) {
			return usageErrorf("%s wants %d argument(s) (%s), got %d", cmd.CommandPath(), len(names), strings.Join(names, " "), len(args))
		}
		return nil
	}
}

// minArgs wants at least n positional arguments, described by what.
func minArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usageErrorf("%s wants at least %d %s", cmd.CommandPath(), n, what)
		}
		return nil
	}
}
