package cli

import (
	"encoding/json"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestEveryCommandHasAnExample(t *testing.T) {
	a := &app{getenv: func(string) string { return "" }}
	root := a.rootCommand()
	root.InitDefaultHelpCmd()
	walk(root, func(c *cobra.Command) {
		if c.Hidden {
			return
		}
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%q has no Example", c.CommandPath())
		}
		if c.Short == "" {
			t.Errorf("%q has no Short", c.CommandPath())
		}
	})
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"topic", "bogus"}, `unknown command "bogus" for "gregor topic"`},
		{[]string{"topic", "crate"}, `did you mean "create"?`},
		{[]string{"topic", "list", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"topic", "describe"}, "wants at least 1 TOPIC"},
		{[]string{"topic", "trim", "t"}, "needs --offset"},
		{[]string{"topic", "trim", "t", "-o", "soon"}, "bad offset"},
		{[]string{"topic", "create", "t", "-c", "novalue"}, "want key=value"},
		{[]string{"topic", "alter-config", "t"}, "nothing to change"},
		{[]string{"topic", "add-partitions", "t"}, "--num must be a positive"},
		{[]string{"produce"}, "wants 1 argument(s) (TOPIC)"},
		{[]string{"produce", "t", "--acks", "2"}, "--acks"},
		{[]string{"produce", "t", "--acks", "1", "--idempotent"}, "--idempotent needs --acks all"},
		{[]string{"produce", "t", "-z", "brotli"}, "compression"},
		{[]string{"produce", "t", "-f", "%k%v"}, "need text between"},
		{[]string{"produce", "t", "-H", "x"}, "want name=value"},
		{[]string{"consume", "t", "-o", "yesterday"}, "bad offset"},
		{[]string{"consume", "t", "-f", "%q"}, "not a directive"},
		{[]string{"consume", "t", "--json", "-f", "%v"}, "exclude each other"},
		{[]string{"consume", "t", "-g", "g", "-p", "0"}, "-p does not go with -g"},
		{[]string{"consume", "t", "-g", "g", "-o", "1:2"}, "does not go with -g"},
		{[]string{"consume", "t", "-g", "g", "-e"}, "--exit-at-end does not go with -g"},
		{[]string{"group", "seek", "g"}, "exactly one of --to and --to-file"},
		{[]string{"group", "seek", "g", "--to-file", "/nonexistent/file"}, "--to-file"},
		{[]string{"group", "offset-delete", "g"}, "needs --topic"},
		{[]string{"group", "offset-delete", "g", "--topic", "t:x"}, "bad partition"},
		{[]string{"profile", "set", "p"}, "needs --brokers"},
		{[]string{"profile", "use", "nope"}, `no profile named "nope"`},
		{[]string{"topic", "list", "--profile", "nope"}, `no profile named "nope"`},
		{[]string{"completion", "tcsh"}, "unknown shell"},
		{[]string{"topic", "list", "--timeout", "0s"}, "--timeout must be positive"},
		{[]string{"serve", "--log-level", "loud"}, "--log-level"},
		{[]string{"serve", "--set", "x"}, "want key=value"},
		{[]string{"serve", "extra"}, "wants 0 argument(s)"},
		{[]string{"help", "bogus"}, "unknown help topic"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			h := newHarness(t, "127.0.0.1:1") // never dialed: these fail before connecting
			h.fails(exitUsage, tc.want, tc.args...)
		})
	}
}

func TestHelp(t *testing.T) {
	h := newHarness(t, "127.0.0.1:1")
	for _, args := range [][]string{{}, {"--help"}, {"topic"}, {"topic", "create", "--help"}, {"help", "consume"}, {"serve", "--help"}} {
		out := h.ok("", args...)
		if !strings.Contains(out, "Usage:") {
			t.Errorf("gregor %v: no usage in %q", args, out)
		}
	}
	serveHelp := h.ok("", "serve", "--help")
	for _, want := range []string{"GREGOR_", "--config", "--set", "--data-dir", "strongest last"} {
		if !strings.Contains(serveHelp, want) {
			t.Errorf("serve --help lacks %q", want)
		}
	}
}

func TestCompletion(t *testing.T) {
	h := newHarness(t, "127.0.0.1:1")
	for _, shell := range []string{"bash", "zsh", "fish"} {
		if out := h.ok("", "completion", shell); !strings.Contains(out, "gregor") {
			t.Errorf("%s completion does not mention gregor", shell)
		}
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestUnreachableBroker(t *testing.T) {
	addr := closedPort(t)
	h := newHarness(t, addr)
	for _, args := range [][]string{
		{"topic", "list"},
		{"topic", "describe", "t"},
		{"produce", "t"},
		{"consume", "t"},
		{"consume", "t", "-g", "g"},
		{"group", "list"},
		{"cluster", "info"},
		{"cluster", "health", "--brokers", addr},
	} {
		start := time.Now()
		h.fails(exitFailure, "cannot reach the cluster at "+addr, append(args, "--timeout", "3s")...)
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("%v took %v", args, d) // a guard against hangs, not a timing assertion
		}
	}
}

func TestUnreachableBlackhole(t *testing.T) {
	// A listener that never answers: the dial succeeds and the request
	// hangs, so only --timeout ends it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	h := newHarness(t, ln.Addr().String())
	h.fails(exitFailure, "cannot reach the cluster at "+ln.Addr().String(), "topic", "list", "--timeout", "500ms")
}

func TestProfiles(t *testing.T) {
	brokers := startFake(t)
	h := newHarness(t, "")
	delete(h.env, envBrokers)
	// No profile, no env: the default address, which is not ours.
	if got := h.seeds(); got != defaultBrokers {
		t.Fatalf("default: got %v", got)
	}
	out := h.ok("", "profile", "set", "local", "--brokers", brokers)
	if !strings.Contains(out, "profile local") {
		t.Fatalf("profile set: %q", out)
	}
	other := closedPort(t) + "," + closedPort(t)
	h.ok("", "profile", "set", "other", "--brokers", other)
	golden(t, "profile_list", normalize(h.ok("", "profile", "list"), `127\.0\.0\.1:\d+`, "127.0.0.1:PORT"))
	// The first profile became current: commands reach the cluster.
	h.ok("", "topic", "list")
	h.ok("", "profile", "use", "other")
	h.fails(exitFailure, "cannot reach the cluster at "+other, "topic", "list", "--timeout", "1s")
	// --profile beats the current profile; GREGOR_BROKERS beats it too.
	h.ok("", "topic", "list", "--profile", "local")
	h.env[envBrokers] = brokers
	h.ok("", "topic", "list")
	// --brokers beats everything.
	closed := closedPort(t)
	h.fails(exitFailure, "cannot reach the cluster at "+closed, "topic", "list", "--brokers", closed, "--timeout", "1s")
	if got := h.seeds("--brokers", "a:1, b:2"); got != "a:1,b:2" {
		t.Fatalf("--brokers: got %q", got)
	}
	delete(h.env, envBrokers)
	if got := h.seeds(); got != other {
		t.Fatalf("current profile: got %q", got)
	}
	if got := h.seeds("--profile", "local"); got != brokers {
		t.Fatalf("--profile: got %q", got)
	}
	h.ok("", "profile", "delete", "other")
	if out := h.ok("", "profile", "list"); strings.Contains(out, "other") {
		t.Fatalf("deleted profile still listed: %q", out)
	}
}

func TestClusterCommands(t *testing.T) {
	h := newHarness(t, startCluster(t))
	info := h.ok("", "cluster", "info")
	golden(t, "cluster_info", normalize(info, `(CLUSTER\s+)\S+`, "${1}ID", `127\.0\.0\.1\s+\d+`, "127.0.0.1  PORT"))
	golden(t, "cluster_health", h.ok("", "cluster", "health"))
	// Exactly the keys asked for: neither the configs sorted before them
	// nor those after the last one.
	got := h.ok("", "cluster", "config", "get", "num.partitions", "log.dirs")
	var keys []string
	for _, line := range strings.Split(strings.TrimSpace(got), "\n")[1:] {
		keys = append(keys, strings.Fields(line)[0])
	}
	if strings.Join(keys, " ") != "log.dirs num.partitions" {
		t.Fatalf("cluster config get num.partitions log.dirs printed %q", got)
	}
	h.fails(exitUsage, "unknown config(s): no.such.config", "cluster", "config", "get", "no.such.config")
	// The defaults of topic configs are dynamic: set for the cluster, they
	// show with their source; the other broker configs need a restart and
	// the refusal comes back in one line.
	golden(t, "cluster_config_set", h.ok("", "cluster", "config", "set", "log.retention.ms=60000"))
	set := regexp.MustCompile(`(?m)^log\.retention\.ms\s+60000\s+DYNAMIC_DEFAULT_BROKER_CONFIG$`)
	if got := h.ok("", "cluster", "config", "get", "log.retention.ms"); !set.MatchString(got) {
		t.Fatalf("cluster config get after set: %q", got)
	}
	if got := h.ok("", "cluster", "config", "get", "--cluster-default"); !set.MatchString(got) || strings.Count(got, "\n") != 2 {
		t.Fatalf("cluster config get --cluster-default: %q", got)
	}
	h.fails(exitFailure, "cluster default: INVALID_REQUEST: Cannot update these configs dynamically: num.partitions", "cluster", "config", "set", "num.partitions=3")
}

// TestClusterConfigSet runs against kfake too: the command works with any
// Kafka-compatible cluster.
func TestClusterConfigSet(t *testing.T) {
	h := newHarness(t, startFake(t))
	golden(t, "cluster_config_set", h.ok("", "cluster", "config", "set", "log.retention.ms=60000"))
	set := regexp.MustCompile(`(?m)^log\.retention\.ms\s+60000\s`)
	if got := h.ok("", "cluster", "config", "get", "--cluster-default"); !set.MatchString(got) {
		t.Fatalf("cluster config get: %q", got)
	}
	h.ok("", "cluster", "config", "set", "--delete", "log.retention.ms")
	if got := h.ok("", "cluster", "config", "get", "--cluster-default"); set.MatchString(got) {
		t.Fatalf("config not deleted: %q", got)
	}
}

func TestJSONRecordShape(t *testing.T) {
	for _, tc := range []struct {
		key, value []byte
		want       string
	}{
		{nil, []byte("v"), `"key":null,"value":"v"`},
		{[]byte("k"), nil, `"key":"k","value":null`},
		{[]byte{0xff}, []byte("é"), `"key_base64":"/w==","value":"é"`},
	} {
		r := newJSONRecord(&kgo.Record{Key: tc.key, Value: tc.value})
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), tc.want) {
			t.Errorf("%s lacks %s", b, tc.want)
		}
	}
}
