package quorum

import (
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
)

// The leader's view of when it last heard from each member, for
// DescribeQuorum's LastFetchTimestamp and LastCaughtUpTimestamp
// (KIP-836). Kafka's followers fetch; Raft's leader pushes, so a
// "fetch" here is a response from the member: MsgAppResp or
// MsgHeartbeatResp, each proof that the member is alive and following
// this leader.
//
// Caught up follows Kafka's definition: the largest time t such that the
// member's log end as of its latest response is at or beyond the leader's
// log end at time t. At a response received at now, with the member's
// Match m (raft's Progress.Match, updated by the response):
//   - m >= the leader's LastIndex now: caught up now;
//   - else m >= the leader's LastIndex at the member's previous response:
//     caught up as of that previous response;
//   - else nothing new is known.
//
// A heartbeat response carries no index, but Match only grows and the
// member holds at least Match, so it proves as much as an append
// response. Times belong to one term: a new term (whoever leads it)
// forgets them, since a previous leadership's knowledge is not this
// leader's. Entries exist only for current members, so the map is bounded
// by the member count.

// peerContact is what the leader knows of one member's responses.
type peerContact struct {
	last     time.Time // the latest response
	lastEnd  uint64    // the leader's LastIndex at that response
	caughtUp time.Time // zero: not known caught up in this term
}

// contactState is the Ready loop's record of peer responses, in loopState.
type contactState struct {
	term  uint64 // the term the entries belong to
	peers map[uint64]*peerContact
}

// noteContact records a response from m's sender, after raft stepped it.
// It runs on the Ready loop and never blocks.
func (n *Node) noteContact(m *pb.Message, now time.Time) {
	if t := m.GetType(); t != pb.MsgAppResp && t != pb.MsgHeartbeatResp {
		return
	}
	rn := n.loop.rn
	bs := rn.BasicStatus()
	if bs.RaftState != raft.StateLeader || m.GetTerm() != bs.HardState.GetTerm() {
		return // not leading, or a response to an earlier leader
	}
	cs := &n.loop.contact
	if cs.term != bs.HardState.GetTerm() || cs.peers == nil {
		cs.term, cs.peers = bs.HardState.GetTerm(), map[uint64]*peerContact{}
	}
	from := m.GetFrom()
	var match uint64
	member := false
	rn.WithProgress(func(id uint64, _ raft.ProgressType, pr tracker.Progress) {
		if id == from {
			match, member = pr.Match, true
		}
	})
	if !member {
		delete(cs.peers, from)
		return
	}
	// Every entry raft appended is persisted before the loop steps
	// another message, so storage's LastIndex is the leader's log end.
	end, _ := n.loop.st.mem.LastIndex()
	p := cs.peers[from]
	if p == nil {
		p = &peerContact{}
		cs.peers[from] = p
	}
	p.observe(match, end, now)
}

// observe records a response received at now from a member whose Match
// is match, while the leader's log ends at end (see the rule above).
func (p *peerContact) observe(match, end uint64, now time.Time) {
	switch {
	case match >= end:
		p.caughtUp = now
	case !p.last.IsZero() && match >= p.lastEnd && p.last.After(p.caughtUp):
		p.caughtUp = p.last
	}
	p.last, p.lastEnd = now, end
}

// forgetContact drops a member that left the configuration.
func (n *Node) forgetContact(id uint64) {
	delete(n.loop.contact.peers, id)
}

// contactTimes fills s.LastContact and s.CaughtUp on the leader: the
// leader itself at now (Kafka reports its own as the current time), every
// other member heard from in this term at its recorded times.
func (n *Node) contactTimes(s *Status, term uint64, progress map[uint64]tracker.Progress, now time.Time) {
	s.LastContact = map[int32]time.Time{nodeID(n.self): now}
	s.CaughtUp = map[int32]time.Time{nodeID(n.self): now}
	cs := &n.loop.contact
	if cs.term != term {
		return
	}
	for id, p := range cs.peers {
		if _, ok := progress[id]; !ok || id == n.self {
			continue
		}
		s.LastContact[nodeID(id)] = p.last
		if !p.caughtUp.IsZero() {
			s.CaughtUp[nodeID(id)] = p.caughtUp
		}
	}
}
