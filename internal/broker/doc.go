// Package broker wires a node together and answers every Kafka API. Each API
// lives in its own file named after its key (00_produce.go, 01_fetch.go,
// ...) and registers the versions it really implements.
package broker
