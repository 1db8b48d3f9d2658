package broker

// Learners: brokers beyond the controller voters, and adding a broker to a
// running cluster (issue #5).
//
// Roles. controller.quorum.voters names at most five voters, the
// controllers. Any other node (its node.id not in the list, the same list
// on every node) opens its quorum.Node as a Raft learner: it receives the
// metadata log and applies it like every node, but never votes and never
// campaigns, so it is never the active controller. Metadata's and
// DescribeCluster's ControllerID stay the Raft leader, always a voter.
// Everything else about a learner is an ordinary broker: it registers
// (BrokerRegistration, API 62), heartbeats, is unfenced once caught up,
// is listed by Metadata and DescribeCluster, and is eligible for the
// replicas of new topics and for reassignment.
//
// Joining. A learner with an empty Raft directory starts from the same
// bootstrap snapshot as every node (the configured voters, index 1) and
// waits: nobody sends it anything until the active controller adds it to
// the Raft configuration (quorum.Node.AddLearner with its transport
// address; the conf change carries the address to every node through the
// log). It cannot send BrokerRegistration first: it knows no controller
// and no broker's Kafka address, only the voters' Raft addresses. So it
// asks over the Raft port. Every node's controller.listener also accepts
// a join exchange, told apart from Raft traffic by its first four bytes
// (raftMux in cluster_learner_join.go; quorum's own start "GRQT"):
//
//	request  offset size field
//	              0    4 magic "GRQJ"
//	              4    1 version (1)
//	              5    4 the joiner's node id (int32, big endian, >= 0)
//	              9    2 address length n (big endian, 1..512)
//	             11    n the joiner's Raft address, host:port
//	answer        0    1 version (1)
//	              1    1 code: 0 added, 1 not the leader, 2 refused, 3 failed
//	              2    4 the leader's node id as this voter knows it (-1: none)
//	              6    2 message length n (at most 512)
//	              8    n why, for the joiner's log
//
// The joiner (runJoin) asks the voters in turn, following the leader hint
// of a "not the leader" answer, until its own Raft state shows it a learner
// at its address; then it stops. The leader answers "added" once the conf
// change is committed and applied. An address whose host is empty or
// unspecified (0.0.0.0, ::) is completed with the host the request came
// from, so controller.listener=:9093 works on a learner.
//
// Why this and not a bootstrap list of Kafka addresses (KIP-853's
// controller.quorum.bootstrap.servers): a new broker needs exactly the
// configuration every node already has (node.id, controller.listener and
// the voters), and joining needs no Kafka listener, no metadata and no
// client. The exchange lives in the broker, not in internal/quorum,
// because it is the broker's policy (who may join) and the transport
// needs no change: the broker binds the Raft listener and hands quorum a
// listener that yields only Raft connections.
//
// Trust and bounds. Like Kafka's controller listener over PLAINTEXT, the
// Raft port is meant for a trusted network; a join is not authenticated.
// The leader refuses a voter's id (a voter is never demoted; quorum
// refuses it too), a new learner beyond maxLearners, and anything
// malformed; addresses are at most 512 bytes; at most maxSortingConns
// connections are being read or answered at once, each under a deadline.
// Re-adding a learner with the same address changes nothing; with another
// address it moves the learner (a broker that came back with a new
// controller.listener).
//
// Restart. A learner's Raft state (WAL, snapshots) is on disk under the
// metadata directory; at restart its own configuration already shows it a
// learner, so it joins nothing and simply follows the leader again.
//
// Removing. Not done: a learner that is gone for good stays a Raft member
// (the leader keeps probing it, which costs a dropped message per
// heartbeat) and its broker registration is fenced after
// broker.session.timeout.ms. Gregor has no UnregisterBroker yet to tie
// quorum.Node.RemoveNode to.

import (
	"context"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/gregor-log/gregor/internal/quorum"
)

// startJoining, on a learner, starts asking the voters to add it to the
// quorum (runJoin); a voter needs nothing.
func (b *Broker) startJoining(mux *raftMux) {
	voters, err := b.cfg.Voters()
	if err != nil {
		return // Validate already refused it
	}
	if _, voter := voters[b.nodeID()]; voter {
		return
	}
	b.background.Go(func() { b.runJoin(b.stop, mux.Addr().String(), voters) })
}

// runJoin asks the voters, one after another and the leader first when
// known, to add this node as a learner at addr, until its own Raft
// configuration shows it one (at once after a restart).
func (b *Broker) runJoin(stop <-chan struct{}, addr string, voters map[int32]string) {
	node := b.cluster.quorum
	ids := slices.Sorted(func(yield func(int32) bool) {
		for id := range voters {
			if !yield(id) {
				return
			}
		}
	})
	req := joinRequest{NodeID: b.nodeID(), Addr: addr}
	// stopCtx ends a request in flight when the broker closes.
	stopCtx, cancelAll := context.WithCancel(context.Background())
	defer cancelAll()
	go func() {
		select {
		case <-stop:
			cancelAll()
		case <-stopCtx.Done():
		}
	}()
	next, backoff := 0, joinMinBackoff
	hinted := false // went straight to a hinted leader since the last wait
	// Not joined for long: say so now and then, with the last outcome.
	warnAt, outcome := time.Now().Add(joinWarnInterval), ""
	for {
		if isJoined(node.Status(), b.nodeID(), addr) {
			b.log.Info("this broker is a learner of the metadata quorum", "raft_addr", addr)
			return
		}
		if time.Now().After(warnAt) {
			b.log.Warn("not yet a member of the metadata quorum; are controller.quorum.voters reachable?", "last", outcome)
			warnAt = time.Now().Add(joinWarnInterval)
		}
		target := ids[next%len(ids)]
		if l := node.Leader(); l >= 0 && voters[l] != "" {
			target = l
		}
		ctx, cancel := context.WithTimeout(stopCtx, joinDialTimeout+joinAnswerTimeout)
		ans, err := b.askToJoin(ctx, voters[target], req)
		cancel()
		if err != nil {
			outcome = fmt.Sprintf("voter %d: %v", target, err)
		} else {
			outcome = fmt.Sprintf("voter %d: %s: %s", target, ans.Code, ans.Message)
		}
		switch {
		case err != nil:
			b.log.Debug("asking to join the metadata quorum", "voter", target, "err", err)
			next++
		case ans.Code == joinAdded:
			backoff = joinMinBackoff
		case ans.Code == joinNotLeader && ans.Leader >= 0 && voters[ans.Leader] != "" && ans.Leader != target:
			next = slices.Index(ids, ans.Leader)
			if !hinted {
				hinted = true
				continue // straight to the leader, once per wait
			}
		case ans.Code == joinRefused:
			b.log.Warn("the controller refused to add this broker to the metadata quorum", "voter", target, "reason", ans.Message)
			next++
		default:
			next++
		}
		select {
		case <-stop:
			return
		case <-time.After(backoff):
		}
		hinted = false
		backoff = min(2*backoff, joinMaxBackoff)
	}
}

// isJoined reports whether st shows node self a learner at addr (at its
// port when addr's host is unspecified: the leader filled the host in).
func isJoined(st quorum.Status, self int32, addr string) bool {
	if !st.Learner {
		return false
	}
	got := st.Members[self]
	if got == addr {
		return true
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || (host != "" && !net.ParseIP(host).IsUnspecified()) {
		return false
	}
	_, gotPort, err := net.SplitHostPort(got)
	return err == nil && gotPort == port
}

// askToJoin sends one join request to the voter at addr and reads its
// answer.
func (b *Broker) askToJoin(ctx context.Context, addr string, req joinRequest) (joinAnswer, error) {
	dctx, cancel := context.WithTimeout(ctx, joinDialTimeout)
	defer cancel()
	dial := (&net.Dialer{}).DialContext
	if b.dial != nil {
		dial = b.dial
	}
	c, err := dial(dctx, "tcp", addr)
	if err != nil {
		return joinAnswer{}, err
	}
	defer c.Close()
	if deadline, ok := ctx.Deadline(); ok {
		c.SetDeadline(deadline)
	}
	// Cancelled (the broker is closing): unblock the write or read now.
	defer context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })()
	if _, err := c.Write(req.append(nil)); err != nil {
		return joinAnswer{}, err
	}
	return readJoinAnswer(c)
}

// QuorumStatus is this broker's view of the metadata quorum (its role,
// the voters and learners, the leader); false on a single node.
func (b *Broker) QuorumStatus() (quorum.Status, bool) {
	if !b.clustered() {
		return quorum.Status{}, false
	}
	return b.cluster.quorum.Status(), true
}
