package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	defaultBrokers = "localhost:9092"
	defaultTimeout = 10 * time.Second
	envBrokers     = "GREGOR_BROKERS"
)

var (
	// errUnreachable: no seed broker answered within --timeout.
	errUnreachable = errors.New("cannot reach the cluster")
	// errUnknownTopic: the topic does not exist.
	errUnknownTopic = errors.New("topic does not exist")
)

// addClientFlags binds the flags every client command shares. They are
// persistent on each client noun rather than on the root so that `gregor
// serve --help` does not list flags that mean nothing to a server.
func (a *app) addClientFlags(cmd *cobra.Command) {
	fs := cmd.PersistentFlags()
	fs.StringSliceVarP(&a.brokersFlag, "brokers", "b", nil,
		"comma-separated seed brokers host:port (default: $"+envBrokers+", the current profile, or "+defaultBrokers+")")
	fs.StringVar(&a.profileFlag, "profile", "", "use the brokers of this named profile from the user config file")
	fs.DurationVar(&a.timeout, "timeout", defaultTimeout, "bound on dialing and on each request to the cluster")
}

// seedBrokers resolves the broker addresses; see the package doc for the
// order.
func (a *app) seedBrokers(cmd *cobra.Command) ([]string, error) {
	if f := cmd.Flags().Lookup("brokers"); f != nil && f.Changed {
		return cleanBrokers(a.brokersFlag)
	}
	if a.profileFlag != "" {
		cfg, err := loadUserConfig(a.userConfigPath())
		if err != nil {
			return nil, err
		}
		p, ok := cfg.Profiles[a.profileFlag]
		if !ok {
			return nil, usageErrorf("no profile named %q in %s", a.profileFlag, a.userConfigPath())
		}
		return cleanBrokers(p.Brokers)
	}
	if env := a.getenv(envBrokers); env != "" {
		return cleanBrokers(strings.Split(env, ","))
	}
	cfg, err := loadUserConfig(a.userConfigPath())
	if err != nil {
		return nil, err
	}
	if p, ok := cfg.Profiles[cfg.Current]; ok && cfg.Current != "" {
		return cleanBrokers(p.Brokers)
	}
	return []string{defaultBrokers}, nil
}

func cleanBrokers(in []string) ([]string, error) {
	var out []string
	for _, b := range in {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		return nil, usageErrorf("no broker addresses given")
	}
	return out, nil
}

// baseOpts are the kgo options every client of this invocation shares.
func (a *app) baseOpts(cmd *cobra.Command) ([]kgo.Opt, []string, error) {
	if a.timeout <= 0 {
		return nil, nil, usageErrorf("--timeout must be positive")
	}
	seeds, err := a.seedBrokers(cmd)
	if err != nil {
		return nil, nil, err
	}
	return []kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.ClientID("gregor-cli"),
		kgo.DialTimeout(a.timeout),
		kgo.RetryTimeout(a.timeout),
		// A broker that accepts but never answers is bounded by read
		// deadlines, not by contexts: keep them within --timeout too.
		kgo.RequestTimeoutOverhead(a.timeout),
	}, seeds, nil
}

// client connects to the cluster and checks that it answers, so that an
// unreachable cluster is reported at once in one line instead of surfacing
// later as a retried request timing out.
func (a *app) client(cmd *cobra.Command, extra ...kgo.Opt) (*kgo.Client, error) {
	opts, seeds, err := a.baseOpts(cmd)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		return nil, usageErrorf("%v", err)
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), a.timeout)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		cl.Close()
		if cmd.Context().Err() != nil {
			return nil, cmd.Context().Err()
		}
		if ctx.Err() != nil {
			err = fmt.Errorf("no answer within %v", a.timeout)
		}
		return nil, fmt.Errorf("%w at %s: %v", errUnreachable, strings.Join(seeds, ","), err)
	}
	return cl, nil
}

// admin is client plus a kadm wrapper whose server-side timeouts follow
// --timeout.
func (a *app) admin(cmd *cobra.Command) (*kadm.Client, func(), error) {
	cl, err := a.client(cmd)
	if err != nil {
		return nil, nil, err
	}
	return newAdmin(cl, a.timeout), cl.Close, nil
}

func newAdmin(cl *kgo.Client, timeout time.Duration) *kadm.Client {
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32(timeout / time.Millisecond))
	return adm
}

// requestContext bounds one round of requests by --timeout.
func (a *app) requestContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), a.timeout)
}

// requestError turns a failed request into the message users should see.
func (a *app) requestError(ctx context.Context, what string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		return fmt.Errorf("%s: no answer within %v (see --timeout)", what, a.timeout)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// topicError names the topic in err, and says plainly when it does not
// exist.
func topicError(topic string, err error) error {
	if errors.Is(err, kerr.UnknownTopicOrPartition) || errors.Is(err, kerr.UnknownTopicID) {
		return fmt.Errorf("topic %q: %w", topic, errUnknownTopic)
	}
	return fmt.Errorf("topic %q: %w", topic, err)
}

// ensureTopics fails with errUnknownTopic unless every topic exists, and
// returns their metadata. Producing to or consuming from a missing topic
// would otherwise wait silently for it to appear.
func (a *app) ensureTopics(cmd *cobra.Command, adm *kadm.Client, topics ...string) (kadm.TopicDetails, error) {
	ctx, cancel := a.requestContext(cmd)
	defer cancel()
	md, err := adm.Metadata(ctx, topics...)
	if err != nil {
		return nil, a.requestError(ctx, "metadata", err)
	}
	for _, t := range topics {
		d, ok := md.Topics[t]
		if !ok {
			return nil, topicError(t, kerr.UnknownTopicOrPartition)
		}
		if d.Err != nil {
			return nil, topicError(t, d.Err)
		}
	}
	return md.Topics, nil
}

// withAdmin runs the body of an admin command: a kadm client on the
// --brokers connection and a context bounded by --timeout, both released
// when body returns.
func (a *app) withAdmin(cmd *cobra.Command, body func(ctx context.Context, adm *kadm.Client) error) error {
	adm, done, err := a.admin(cmd)
	if err != nil {
		return err
	}
	defer done()
	ctx, cancel := a.requestContext(cmd)
	defer cancel()
	return body(ctx, adm)
}
