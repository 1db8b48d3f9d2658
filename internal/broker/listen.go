package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"

	"github.com/gregor-log/gregor/internal/config"
	"github.com/gregor-log/gregor/internal/metadata"
)

// listen binds every configured listener. Host "localhost" binds both
// 127.0.0.1 and [::1] on the same port, because clients resolve localhost
// to either; with port 0 the IPv6 side takes the port the IPv4 side got.
// A host without IPv6 only logs the [::1] failure.
func (b *Broker) listen(ctx context.Context) ([]net.Listener, error) {
	var lc net.ListenConfig
	var lns []net.Listener
	fail := func(err error) ([]net.Listener, error) {
		for _, ln := range lns {
			ln.Close()
		}
		return nil, err
	}
	for _, l := range b.cfg.ParsedListeners() {
		if l.Host != "localhost" {
			ln, err := lc.Listen(ctx, "tcp", net.JoinHostPort(l.Host, strconv.Itoa(l.Port)))
			if err != nil {
				return fail(fmt.Errorf("broker: listener %s: %w", l, err))
			}
			lns = append(lns, &namedListener{Listener: ln, name: l.Name})
			continue
		}
		pair, err := b.listenLoopback(ctx, &lc, l)
		if err != nil {
			return fail(err)
		}
		lns = append(lns, pair...)
	}
	return lns, nil
}

// listenLoopback binds 127.0.0.1 and [::1] on one port. With port 0 the
// port the IPv4 side got may be taken on IPv6: then both are retried.
func (b *Broker) listenLoopback(ctx context.Context, lc *net.ListenConfig, l config.Listener) ([]net.Listener, error) {
	const attempts = 10
	for attempt := 1; ; attempt++ {
		v4, err := lc.Listen(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(l.Port)))
		if err != nil {
			return nil, fmt.Errorf("broker: listener %s: %w", l, err)
		}
		port := v4.Addr().(*net.TCPAddr).Port
		v6, err := lc.Listen(ctx, "tcp", net.JoinHostPort("::1", strconv.Itoa(port)))
		switch {
		case err == nil:
			return []net.Listener{&namedListener{v4, l.Name}, &namedListener{v6, l.Name}}, nil
		case !errors.Is(err, syscall.EADDRINUSE):
			b.log.Warn("cannot listen on the IPv6 loopback; serving IPv4 only", "listener", l.String(), "err", err)
			return []net.Listener{&namedListener{v4, l.Name}}, nil
		}
		v4.Close()
		if l.Port != 0 || attempt == attempts {
			return nil, fmt.Errorf("broker: listener %s on [::1]: %w", l, err)
		}
	}
}

// namedListener remembers which configured listener a socket belongs to.
type namedListener struct {
	net.Listener
	name string
}

// advertisedEndpoints are the endpoints given to clients: the advertised
// listeners (or the listeners), with port 0 replaced by the bound port and
// an unspecified host by this machine's name.
func (b *Broker) advertisedEndpoints(lns []net.Listener) []metadata.Endpoint {
	bound := map[string]int{}
	for _, ln := range lns {
		nl := ln.(*namedListener)
		if _, ok := bound[nl.name]; !ok {
			bound[nl.name] = ln.Addr().(*net.TCPAddr).Port
		}
	}
	var out []metadata.Endpoint
	for _, l := range b.cfg.ParsedAdvertisedListeners() {
		out = append(out, b.endpoint(l, bound))
	}
	return out
}

func (b *Broker) endpoint(l config.Listener, bound map[string]int) metadata.Endpoint {
	port := l.Port
	if port == 0 {
		port = bound[l.Name]
	}
	host := l.Host
	if host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified() {
		if h, err := os.Hostname(); err == nil {
			host = h
		} else {
			host = "localhost"
		}
	}
	return metadata.Endpoint{Name: l.Name, Host: host, Port: int32(port)}
}
