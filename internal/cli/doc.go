// Package cli is the gregor command line: one cobra command tree for the
// server (`gregor serve`) and for the client tools (`topic`, `produce`,
// `consume`, `group`, `cluster`, `profile`, `completion`), noun-verb like rpk.
//
// The contract:
//
//  1. Run is the only entry point. It builds a fresh command tree for each
//     call (no package state), so tests run commands in-process and in
//     parallel, feeding stdin and reading stdout/stderr.
//  2. Exit codes: 0 success (and a consume stopped by SIGINT), 1 a failure
//     at run time (unreachable broker, unknown topic, a Kafka error),
//     2 bad usage (unknown command or flag, bad arguments or config).
//  3. A failure prints exactly one line, "gregor: <what went wrong>", on
//     stderr. Data goes to stdout only.
//  4. Every network operation is bounded by --timeout; an unreachable broker
//     is reported after at most that long, never a hang.
//  5. The client side is franz-go (kgo and kadm): a real Kafka client, so
//     the tools work against any Kafka-compatible cluster, not only Gregor.
//
// Broker addresses come from, strongest first: --brokers, --profile,
// GREGOR_BROKERS, the current profile of the user file
// ($XDG_CONFIG_HOME/gregor/config.yaml), then localhost:9092.
package cli
