// Package storage is the durable commit log of one partition: a directory
// of segments, each a .log file of v2 batches exactly as they came off the
// wire with offsets assigned in place, a sparse .index (offset -> position)
// and a .timeindex (timestamp -> offset), plus a leader-epoch checkpoint.
//
// The on-disk layout and the engine's invariants are described in the
// files that own them.
package storage
