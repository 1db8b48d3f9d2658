// Package admin is a node's HTTP admin endpoint, separate from the Kafka
// listeners and bound to loopback by default (admin.listener):
//
//	GET /healthz        200 "ok" while the health check passes, else 503
//	                    with the reason on one line
//	GET /metrics        Prometheus text format: the broker's registry, plus
//	                    Go runtime and process collectors when the broker's
//	                    registry does not already have them
//	GET /debug/pprof/   the runtime profiler, only when Options.Pprof is set
//
// The contract: Listen binds the address before it returns (so callers can
// log the real port when they asked for port 0) and serves in the
// background; Close stops the server within a bounded time. Nothing here
// uses global registries or http.DefaultServeMux, so several nodes can run
// in one test process.
package admin
