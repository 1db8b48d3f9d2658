// Package broker wires a node together and answers every Kafka API. Each API
// lives in its own file named after its key (00_produce.go, 01_fetch.go,
// ...) and registers the versions it really implements.
//
// Without controller.quorum.voters a node is a complete one-node cluster:
// its metadata log is a local file (metadata.LocalStore). With voters it
// is one broker of a cluster (cluster.go): the metadata log is the Raft
// quorum (internal/quorum), the quorum's leader is the active controller
// (metadata.Controller, fed by BrokerRegistration, BrokerHeartbeat,
// AlterPartition, ElectLeaders and AllocateProducerIds, served only in a
// cluster; DescribeQuorum shows the Raft log), and every partition plays the role the image gives it: leader,
// or follower copying from its leader (internal/replication). Partition
// reassignments (AlterPartitionReassignments, ListPartitionReassignments)
// move replicas between brokers, the copy throttled by
// follower.replication.throttled.rate (cluster_reassign.go) and
// leader.replication.throttled.rate (cluster_throttle.go), and the
// active controller moves leaderships back to preferred replicas
// (cluster_rebalance.go). A node outside the voters is a Raft learner: it
// asks to join on the Raft port (cluster_learner*.go), then is a broker
// like any other. Admin requests only the controller decides are
// forwarded to it from any node (cluster_forward.go).
package broker
