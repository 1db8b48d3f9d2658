// Package partition owns one replica's state above the log: its role, high
// watermark, leader epoch, the idempotent-producer state, and the
// "purgatory" where acks=all produces and long-poll fetches wait until the
// high watermark or log end moves. Waiters are woken by those changes,
// never by polling.
//
// Contract, by caller:
//
//   - The topic registry opens a partition with Open (which recovers the
//     producer state), applies config changes with SetConfig, and ends it
//     with Close (a clean close leaves a producer-state snapshot) or Delete.
//   - The produce handler calls Produce once per partition of a request.
//     Produce validates every batch before writing any, checks idempotent
//     sequences, appends, raises the high watermark and, for acks=all,
//     waits for it to cover the data. Errors are values the handler maps to
//     Kafka codes (see Produce).
//   - The fetch side reads with Read below HighWatermark (consumers) or
//     LogEndOffset (followers) and parks long polls with Watch/Unwatch; every
//     change of the high watermark or log end signals the watchers.
//   - InitProducerId takes ids from ProducerIDs, which persists a
//     reservation so ids stay unique across restarts.
//
// Roles. A partition never given replicas (a single node) is the leader
// at epoch 0 and its own whole ISR: the high watermark is the end of what
// its log holds durably under the flush policy. In a cluster the broker
// applies the image with BecomeLeader(epoch, replicas, ISR) or
// BecomeFollower(epoch, leader) (replica.go, follower.go): a leader's high
// watermark is the minimum durable log end over the ISR (and any pending
// ISR proposal, KIP-497), fed by UpdateFollowerFetch; a follower appends
// the leader's batches with AppendAsFollower and truncates by leader
// epoch. acks=all waits through the purgatory in both cases, and is
// refused when the ISR is below min.insync.replicas.
//
// High watermark at start. A single node starts it at the log end. A
// replicated partition (one given SetLocalReplicaID) starts it at
// min(checkpoint, log end): the checkpoint is a high watermark it had,
// written on a timer and at a clean close, so a restarted replica never
// exposes records no ISR held (see hwcheckpoint.go).
//
// Files on disk, next to the log's segments: <offset>.snapshot, the producer
// state as of that offset (see snapshot.go), and on a replicated partition
// high-watermark.checkpoint (see hwcheckpoint.go). In the log directory:
// producer_ids, the producer-id reservation (see producerids.go).
package partition
