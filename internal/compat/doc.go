// Package compat proves wire compatibility with Kafka clients that Gregor
// did not write and does not share code with: Sarama, segmentio/kafka-go,
// kcat (librdkafka) and confluent-kafka-python. It holds only tests; each
// one starts an in-process broker on a random loopback port and checks that
// every acknowledged record is read back at its acknowledged offset.
//
// The cluster_* tests run the same clients, unchanged, against an
// in-process three-node cluster (internal/clustertest): a topic with three
// replicas and min.insync.replicas=2 whose partition leaders sit on
// different nodes, acks=all producers and consumer groups; the Sarama and
// kafka-go tests close one partition's leader under the clients
// (controlled shutdown) and check that nothing acknowledged is lost.
//
// kcat and confluent-kafka-python come from Debian's packages. Their tests
// skip when the tools are missing, unless GREGOR_TEST_REQUIRE_COMPAT is set (CI
// sets it), in which case a missing tool fails the run.
package compat
