// Package replication is the follower side of Kafka's ISR protocol between
// brokers: a Fetcher per source broker copies the partitions this broker
// follows there, appending the leader's batches at the leader's offsets.
//
// Contract:
//
//   - One Fetcher per leader broker, with a LeaderClient that reaches it
//     (NewKgoClient over franz-go, or any other implementation in tests).
//     Its single goroutine sends Fetch requests carrying this broker's
//     replica id for every partition it follows there, long-polling with
//     replica.fetch.min.bytes / replica.fetch.wait.max.ms.
//   - Add(tp, replica, leaderEpoch) starts (or, with a newer epoch,
//     restarts) following; the partition must already be a follower at
//     that epoch (partition.BecomeFollower). Before fetching, the fetcher
//     truncates a divergent suffix: OffsetForLeaderEpoch for the log's
//     latest epoch, then TruncateTo(min(leader's end offset for it, own log
//     end)) (KIP-101/279); a fetch answering DivergingEpoch (KIP-320)
//     truncates the same way.
//   - Remove(tp) stops following; once it returns the fetcher no longer
//     touches that replica, so the caller may make it the leader.
//   - Errors from the leader are handled per partition: OFFSET_OUT_OF_RANGE
//     below the leader's log start restarts the log there
//     (TruncateFullyAndStartAt); NOT_LEADER_OR_FOLLOWER, UNKNOWN_LEADER_EPOCH
//     and network errors back off (replica.fetch.backoff.ms) and retry;
//     FENCED_LEADER_EPOCH parks the partition until an Add brings a newer
//     epoch (the metadata moved on).
//   - Partitions marked with SetThrottled (the replicas a broker adds in a
//     reassignment, and those follower.replication.throttled.replicas
//     lists) share one Throttle, a token bucket of
//     follower.replication.throttled.rate bytes per second: while it is in
//     debt they are left out of fetches, the others never wait for them.
//     The leader's side of the quota (leader.replication.throttled.rate)
//     uses a Throttle too, in the broker's fetch path.
//
// Nothing the leader sends can panic the process: responses are checked
// (framing and CRC in partition.AppendAsFollower) and a bad one only
// delays its partition.
package replication
