// Package metadata owns the cluster's metadata as a log of records
// (topics, partitions with their replicas, ISR, leader and epochs, configs,
// brokers, the cluster id) and the Image they build.
//
// The contract, which the future Raft quorum keeps:
//
//  1. Records are appended in batches; a batch is applied whole or not at
//     all (Store.Append).
//  2. Apply is a pure function from (*Image, records) to a new *Image. It
//     rejects records that do not fit the image (ErrInvalidRecord), so a
//     bad batch is refused before it is written.
//  3. An Image is immutable once published: maps are copied on write, so
//     readers take Store.Image() and use it without locks, for as long as
//     they like.
//  4. Store.Changed returns a channel closed when a newer Image is
//     published, so watchers wait instead of polling.
//
// LocalStore is the single-node Store: it appends each batch to one file,
// framed as
//
//	offset size field
//	     0    4 length of payload (big endian)
//	     4    4 CRC32C (Castagnoli) of payload
//	     8    … payload: uvarint record count, then per record a uvarint
//	            length and the record's bytes (type, version, fields)
//
// and fsyncs before Append returns. On open it replays the file; a torn or
// corrupt tail (a crash during a write) is truncated. LocalStore replays
// its whole log, which stays small on one node. Multi-node clusters use
// the Raft-backed Store in package quorum, which snapshots the image as
// the records that rebuild it (Image.Records, ImageFromRecords).
//
// Controller (controller.go) is the active controller's pure state
// machine: registrations, heartbeats and session ticks, AlterPartition,
// topic and partition creation, leader elections and producer id blocks go
// in, with the current time; the records to append and the responses come
// out. Partition reassignments (KIP-455) and the automatic preferred-leader
// rebalancing are in controller_reassign.go. Placement (placement.go) spreads replicas over brokers and racks.
// The records it writes (records_cluster.go) are checked by Apply against
// the replication invariants of docs/design/replication.md: the leader is
// in the ISR, the ISR is a non-empty subset of the replicas, LeaderEpoch
// moves exactly on leader changes, PartitionEpoch on every change.
package metadata
