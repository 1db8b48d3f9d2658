// Package fsutil holds the few file-system steps that durability depends on
// and that every on-disk format here (segments, checkpoints, snapshots, the
// metadata log, the Raft WAL) needs alike.
package fsutil
