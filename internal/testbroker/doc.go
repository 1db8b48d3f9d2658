// Package testbroker starts an in-process Gregor broker for tests: on a
// temporary data directory and a random loopback port, closed when the
// test ends. End-to-end tests of every package use it with a real client
// (franz-go):
//
//	b := testbroker.Start(t, nil)
//	cl := b.Client(t)                 // kgo.Client seeded with b.Addr
//	adm := b.Admin(t)                 // kadm.Client
//
// Overrides are broker configs by Kafka name ("num.partitions": "3").
// Set TESTBROKER_LOG=debug (or info, warn) to see the broker's logs in
// the test output; by default only errors are shown.
package testbroker
