// Package faulttest is Gregor's fault-injection suite (issue #5): real
// broker processes on loopback, real faults, and a history check of what
// the cluster acknowledged.
//
// # What it proves
//
// Each scenario runs a three-node cluster (every node a broker and a Raft
// voter) with a topic of three partitions, three replicas and
// min.insync.replicas=2, and a franz-go producer writing distinct values
// with acks=all (idempotent) throughout. A fault is injected, the
// cluster recovers, and the suite checks (Check) that
//
//   - every acknowledged record is read back at its acknowledged offset,
//   - no offset holds two values, and no value is in the log twice,
//   - nothing acknowledged is lost, and offsets are dense from 0,
//   - every replica's segment files end byte-identical,
//
// and that writes were acknowledged during the fault where the scenario
// says they must be. A consumer reading throughout adds one more promise:
// a record once read below the high watermark never changes or vanishes
// (CheckReads).
//
// The scenarios (the four first):
//
//   - TestKill9LeaderUnderAcksAll: kill -9 of a partition leader, then of
//     a leader that is also the active controller; restart; rejoin.
//   - TestStopFollowerLeavesAndRejoinsISR: SIGSTOP of a follower, which
//     leaves the ISR while writes go on; SIGCONT; it rejoins.
//   - TestRollingRestartUnderLoad: SIGTERM (controlled shutdown) and
//     restart of every node in turn.
//   - TestPartitionIsolatesLeader: a network partition isolating a leader
//     (and, again, the controller): it must not acknowledge acks=all
//     writes, the majority elects a new leader and goes on, and after the
//     heal the old leader drops what it appended alone.
//   - TestLeaderCutFromController: a partial partition, a leader cut from
//     the controller only.
//   - TestStopLeaderResumesAsZombie: a SIGSTOPped leader resumes after
//     the majority replaced it.
//   - TestKill9WholeCluster: every node killed at once, then restarted.
//   - TestStalledLeaderLinks: like TestPartitionIsolatesLeader, but the
//     leader's links stall (half-open: open, carrying nothing) instead of
//     dropping; after the heal the held requests of both sides arrive
//     late, and the old leader still drops what it appended alone.
//   - TestSlowFollowerLeavesISR: a follower's link to a leader slowed
//     above replica.lag.time.max.ms: it leaves that leader's ISRs while
//     acks=all writes go on, and rejoins after the heal; the same with
//     that link stalled or cut. (It found a follower stuck at the high
//     watermark being proposed straight back into the ISR it was shrunk
//     out of, so it never left.)
//   - TestChaos: overlapping random faults, stalls and slow links among
//     them (FAULTTEST_SEED replays one).
//
// Run one scenario, with the nodes' logs shown only if it fails:
//
//	go test ./internal/faulttest -run TestKill9 -v
//
// The whole suite takes about a minute and a half on two cores; -short
// skips the cluster scenarios. FAULTTEST_LOG=debug (or info, the
// default, warn, error) sets the nodes' log level.
//
// # How it works
//
// Start re-executes the test binary once per node; TestMain's call to
// ServeChildIfAsked makes such a child a broker, configured by a JSON
// spec in an environment variable. Every node's addresses (client and
// Raft listeners) are picked before the first starts and kept across
// restarts, as is its data directory, so Kill9, Term, Stop, Cont and
// Restart act on one long-lived node.
//
// Inter-node traffic goes through the test process: for every directed
// link from node i to node j there is a Proxy to j's client listener and
// one to j's Raft listener. Child i's broker is built with
// broker.WithDialer, whose dialer rewrites "j's real address" to "the
// proxy of link i→j" (anything else, such as its own listener, is dialled
// directly). So Raft messages, follower fetches and requests to the
// controller all cross a proxy, and Isolate(id) cuts every link to and
// from a node (closing the live connections and refusing new ones) while
// the test's clients, which dial the real listeners, still reach it.
//
// A proxy forwards through a delay line per direction (bounded: a full
// line stops reading and TCP pushes back), which gives the other faults:
// SlowLink(from, to, d) delays every byte of from's connections to to by
// d, and StallNode(id) makes every link of a node half-open, the
// connections open and accepted but nothing crossing until Heal, which
// delivers what was held (Proxy.Stall says why held and not reset). Heal
// undoes any of them.
package faulttest
