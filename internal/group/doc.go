// Package group is the group coordinator: consumer groups (the classic
// JoinGroup/SyncGroup protocol and KIP-848's ConsumerGroupHeartbeat) and
// their committed offsets, kept in the internal topic __consumer_offsets.
//
// The package has two layers.
//
// Coordinator is a pure state machine, in the manner of etcd's raft: it does
// no I/O, reads no clock and starts no goroutine. Inputs are requests (kmsg
// structs, with the caller's clock reading in milliseconds) and Tick; outputs
// are responses, replies to parked requests and records to persist, taken
// with Ready. Tests drive it deterministically. Its contract:
//
//  1. Call every method from one goroutine at a time (the Service holds a
//     mutex around it).
//  2. A method returns its response at once, or nil when the request is
//     parked (JoinGroup, SyncGroup): the answer comes out of Ready later,
//     tagged with the Ticket the caller gave.
//  3. After each call, take Ready and persist its Records in order, then
//     deliver its Replies. The caller answers the request only once the
//     records of that call are durable; state changes are applied in memory
//     at once, so a write that fails leaves memory ahead of the log (the
//     client is told the commit failed and retries).
//  4. Call Tick when NextDeadline passes: it expires sessions, ends
//     rebalances that waited long enough and drops expired offsets.
//  5. Groups live in the __consumer_offsets partition PartitionFor(group).
//     A partition must be loaded (BeginLoad, Replay of every record from
//     offset 0, EndLoad) before its groups are served; until then its groups
//     answer COORDINATOR_LOAD_IN_PROGRESS, and groups of partitions never
//     loaded answer NOT_COORDINATOR.
//
// Service wraps a Coordinator for the broker: a mutex, tickets and waiting
// for parked requests, one broker-wide timer goroutine, and the appends to
// and replay from __consumer_offsets through the OffsetsLog interface. It
// starts no goroutine per group or member.
//
// Records use Kafka's own schemas (offset commit key v1 and value v3 or v1,
// group metadata key v2 and value v3), so Kafka's tools can read the topic.
// Classic groups are persisted whole (members, generation, assignments)
// and come back Stable after a restart; KIP-848 groups persist only their
// offsets: after a restart their members get UNKNOWN_MEMBER_ID and rejoin,
// as clients do after any coordinator failover.
//
// KIP-848 reconciliation follows Kafka's: a partition moves to a new
// member only after its previous owner has said (in a heartbeat's owned
// partitions) that it gave it up, so no two members ever own one partition
// at once. Members of a group that is changing are told to heartbeat every
// 500 ms rather than group.consumer.heartbeat.interval.ms, since the
// coordinator cannot push revocations.
//
// Bounds: members per group (group.max.size), groups per coordinator
// (MaxGroups), committed partitions (only partitions that exist), metadata
// size (offset.metadata.max.bytes). Empty groups without offsets are removed
// at once.
package group
