// Package quorum replicates the cluster metadata log with Raft
// (go.etcd.io/raft/v3): a Node is a metadata.Store whose Append goes
// through the Raft leader, the active controller.
//
// Roles: up to five voters (the controllers, Config.Voters); every other
// node is a learner that receives the log and never votes. One voter alone
// is a complete cluster. Learners join through AddLearner on the leader,
// their transport address carried in the conf change, so every node learns
// it from the log.
//
// The contract, kept from metadata.Store:
//
//  1. Append is accepted by the leader only (otherwise a *NotLeaderError
//     naming the leader, for NOT_CONTROLLER). It validates the batch
//     against the current image, proposes it, and returns once the entry
//     is committed and applied here, or with the error of its apply.
//  2. Every node applies committed entries in log order with the same pure
//     function (metadata.Image.Apply); an entry that does not apply is
//     skipped on every node alike. So all images converge.
//  3. Images are immutable; Changed is closed at each applied batch.
//
// One goroutine, the Ready loop (loop.go), owns the raft.RawNode, the
// storage and the state machine. It ticks, steps messages and proposals
// into raft, and handles each Ready as raft's doc.go orders: persist the
// HardState, entries and snapshot (fsync) before sending any message,
// then apply, then Advance. Nothing else touches raft.
//
// The leader also notes when each member last responded and was last
// caught up to its log end (contact.go), reported in Status for
// DescribeQuorum's LastFetchTimestamp and LastCaughtUpTimestamp.
//
// On disk (Config.Dir):
//
//	wal                      the write-ahead log (wal.go): a marker naming
//	                         the snapshot it continues, entries, HardStates;
//	                         frames of length + CRC32C, fsynced per Ready
//	snap-<index, 16 hex>.snap the snapshot the WAL continues (snapshot.go):
//	                         the image as the records that rebuild it, the
//	                         members' addresses, the ConfState, index, term
//
// A snapshot is taken every Config.SnapshotEntries applied entries; the
// WAL is then rewritten to start after it, and the log in memory keeps
// Config.CatchUpEntries before it for slow followers. A follower further
// behind gets a snapshot made fresh at the leader's applied index (so a
// learner added since the last disk snapshot is in its ConfState). Files are replaced whole
// (temporary file, fsync, rename, directory fsync), so a crash leaves the
// old state or the new one. At open a torn WAL tail is truncated; nothing
// fsynced is lost.
//
// Node ids: Raft ids are node id + 1, since Raft reserves 0 and Kafka node
// ids start at 0.
package quorum
