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
// On a single node this replica is the leader at epoch 0, and the high
// watermark is the end of what the log holds durably under the flush
// policy: the storage append returns once the data is durable, and the
// high watermark moves to its end right after. Replication (issue #5)
// changes only how the high watermark moves (min log end over the ISR) and
// the role (BecomeLeader/BecomeFollower); acks=all already waits through
// the purgatory.
//
// Files on disk, next to the log's segments: <offset>.snapshot, the producer
// state as of that offset (see snapshot.go). In the log directory:
// producer_ids, the producer-id reservation (see producerids.go).
package partition
