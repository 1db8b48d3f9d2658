// Package config owns the broker's settings: one Config struct whose fields
// carry Kafka's own names (yaml tags such as "log.segment.bytes"), their
// defaults, validation, and the table of topic-level configs with their
// broker synonyms.
//
// Precedence, applied once by Load: defaults, then the YAML file (flat keys,
// Kafka names), then GREGOR_* environment variables (GREGOR_LOG_DIRS is
// log.dirs), then overrides (command-line flags). Later wins. Unknown keys
// anywhere are an error, so a typo never silently falls back to a default.
//
// Deviation from Kafka: log.flush.interval.messages (topic flush.messages)
// defaults to 1, not Long.MaxValue. Every append is fsynced before it is
// acknowledged, with group commit (one fsync covers every batch waiting for
// it). Set it (and log.flush.interval.ms) to Kafka's values to get Kafka's
// page-cache behaviour back.
//
// Topic configs (TopicKeys) resolve in Kafka's order: the topic's own
// override (source DYNAMIC_TOPIC_CONFIG), else the first broker synonym set
// in the file/env/flags (STATIC_BROKER_CONFIG), else the default
// (DEFAULT_CONFIG). The Source and Type values equal Kafka's wire codes.
//
// Dynamic broker configs (dynamic.go, Kafka's KIP-226): the broker configs
// that are defaults of topic configs (log.retention.ms, message.max.bytes,
// ...) can be changed at run time, for one node (DYNAMIC_BROKER_CONFIG) or
// the cluster (DYNAMIC_DEFAULT_BROKER_CONFIG). The broker keeps them in the
// cluster metadata and installs them with SetDynamic; they rank above the
// static value of the same name.
package config
