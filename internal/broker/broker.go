package broker

import (
	"context"
	"log/slog"

	"github.com/gregor-log/gregor/internal/wire"
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

// Broker is one node: its topics and partitions, and the handlers for every
// API. State is grouped by owner: controlState (topics, configs, metadata)
// and dataState (produce/fetch: producer ids, fetch sessions).
type Broker struct {
	log *slog.Logger
	controlState
	dataState
}
