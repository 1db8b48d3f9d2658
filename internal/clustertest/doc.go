// Package clustertest starts an in-process Gregor cluster for tests: N
// brokers in the test process, each with its own temporary data directory,
// a random loopback client port and a Raft port. With Start all of them
// are voters of the metadata quorum; StartWithLearners makes the first
// ones voters and the rest Raft learners, and AddNode adds a learner to
// the running cluster. Brokers are closed when the test ends.
//
//	c := clustertest.Start(t, 3, nil)
//	cl := c.Client(t)              // kgo.Client seeded with every broker
//	c.WaitForBrokers(t, 3)         // all registered and unfenced
//	c.Node(1).Close()              // kill a broker (no controlled shutdown)
//	n := c.AddNode(t, nil)         // a 4th broker joins as a learner
//	c.WaitForBrokers(t, 4)
//
// Timeouts (heartbeat, session, replica lag) are shortened so failover
// happens within seconds. Set CLUSTERTEST_LOG=debug (or info, warn) to
// see the brokers' logs on stderr.
package clustertest
