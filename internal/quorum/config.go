package quorum

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// MaxVoters is the largest voter set: five voters tolerate two failures,
// and more would only slow every commit down.
const MaxVoters = 5

// Config configures one node of the quorum.
type Config struct {
	// NodeID is this node's Kafka node id (>= 0).
	NodeID int32
	// Voters maps each voter's node id to its Raft transport address
	// (host:port). A node in Voters is a voter, any other a learner. It
	// must be the same on every node; it seeds the membership of a new
	// cluster (later changes go through the log) and tells every node
	// where the voters are. Empty means a one-voter cluster of NodeID.
	Voters map[int32]string
	// Listen is the address the Raft transport listens on (":0" picks a
	// port; Node.Addr tells which). Ignored when Listener is set; empty
	// with no Listener means no transport (a one-voter cluster only).
	Listen string
	// Listener, if set, is an already bound listener the transport takes
	// over (and closes). Tests bind every node's port before starting any.
	Listener net.Listener
	// Dir holds the Raft state: the write-ahead log and snapshots.
	Dir string

	// TickInterval is the length of one Raft tick (default 50 ms).
	TickInterval time.Duration
	// ElectionTicks is the election timeout in ticks (default 10); a
	// follower that hears nothing from a leader for that long campaigns.
	ElectionTicks int
	// HeartbeatTicks is the leader's heartbeat interval in ticks (default 1).
	HeartbeatTicks int

	// SnapshotEntries is how many applied entries trigger a snapshot and
	// the compaction of the log before it (default 10,000).
	SnapshotEntries uint64
	// CatchUpEntries is how many entries before a snapshot stay in memory
	// after compaction, so a follower a little behind catches up from the
	// log instead of a snapshot (default 1,000; negative keeps none).
	CatchUpEntries int

	// ProposalTimeout bounds Append (which has no context), default 10 s.
	ProposalTimeout time.Duration

	// Logger receives the node's and etcd raft's logs (default slog.Default).
	Logger *slog.Logger

	// Dial, if set, opens the transport's connections to peers instead of
	// a plain net.Dialer. The fault-injection tests route every link
	// through a proxy they can cut this way.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

const (
	defaultTickInterval    = 50 * time.Millisecond
	defaultElectionTicks   = 10
	defaultHeartbeatTicks  = 1
	defaultSnapshotEntries = 10_000
	defaultCatchUpEntries  = 1_000
	defaultProposalTimeout = 10 * time.Second
)

// ErrConfig: a Config that cannot work.
var ErrConfig = errors.New("quorum: invalid config")

// withDefaults validates c and fills in defaults.
func (c Config) withDefaults() (Config, error) {
	if c.NodeID < 0 {
		return c, fmt.Errorf("%w: node id %d", ErrConfig, c.NodeID)
	}
	if c.Dir == "" {
		return c, fmt.Errorf("%w: no directory", ErrConfig)
	}
	if len(c.Voters) > MaxVoters {
		return c, fmt.Errorf("%w: %d voters (at most %d)", ErrConfig, len(c.Voters), MaxVoters)
	}
	for id, addr := range c.Voters {
		if id < 0 {
			return c, fmt.Errorf("%w: voter id %d", ErrConfig, id)
		}
		if addr == "" && id != c.NodeID {
			return c, fmt.Errorf("%w: voter %d has no address", ErrConfig, id)
		}
	}
	if len(c.Voters) == 0 {
		c.Voters = map[int32]string{c.NodeID: ""}
	}
	if (len(c.Voters) > 1 || !c.isVoter()) && c.Listen == "" && c.Listener == nil {
		return c, fmt.Errorf("%w: a multi-node quorum needs a listen address", ErrConfig)
	}
	if c.TickInterval <= 0 {
		c.TickInterval = defaultTickInterval
	}
	if c.ElectionTicks <= 0 {
		c.ElectionTicks = defaultElectionTicks
	}
	if c.HeartbeatTicks <= 0 {
		c.HeartbeatTicks = defaultHeartbeatTicks
	}
	if c.ElectionTicks <= c.HeartbeatTicks {
		return c, fmt.Errorf("%w: election ticks (%d) must exceed heartbeat ticks (%d)", ErrConfig, c.ElectionTicks, c.HeartbeatTicks)
	}
	if c.SnapshotEntries == 0 {
		c.SnapshotEntries = defaultSnapshotEntries
	}
	switch {
	case c.CatchUpEntries == 0:
		c.CatchUpEntries = defaultCatchUpEntries
	case c.CatchUpEntries < 0:
		c.CatchUpEntries = 0
	}
	if c.ProposalTimeout <= 0 {
		c.ProposalTimeout = defaultProposalTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

func (c Config) isVoter() bool {
	_, ok := c.Voters[c.NodeID]
	return ok
}

// Raft ids are uint64 and 0 means "none", while Kafka node ids start at 0:
// a node's Raft id is its node id plus one. These two functions are the
// only place that mapping lives.
func raftID(nodeID int32) uint64 { return uint64(nodeID) + 1 }

// nodeID maps a Raft id back; 0 (none) and ids out of range give -1.
func nodeID(id uint64) int32 {
	if id == 0 || id > 1<<31 {
		return -1
	}
	return int32(id - 1)
}
