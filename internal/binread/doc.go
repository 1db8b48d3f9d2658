// Package binread decodes the fields of Gregor's own on-disk formats (the
// metadata records, the Raft WAL, snapshots and proposals): bytes,
// unsigned and zig-zag varints, length-prefixed strings and byte slices,
// and list counts.
//
// Its Reader remembers the first failure instead of returning an error
// from every call, so a decoder reads a whole structure and checks Bad
// once at the end, as franz-go's kbin.Reader does for the Kafka protocol.
// After a failure every read returns a zero value and consumes nothing.
// Nothing here panics or allocates more than the input can justify: a
// count is checked against the bytes left before anyone allocates for it.
package binread
