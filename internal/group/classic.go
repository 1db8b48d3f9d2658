package group

import (
	"bytes"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// classicState is a classic group's state, named as Kafka names it.
type classicState int8

const (
	stateEmpty classicState = iota
	statePreparingRebalance
	stateCompletingRebalance
	stateStable
)

func (s classicState) String() string {
	switch s {
	case statePreparingRebalance:
		return "PreparingRebalance"
	case stateCompletingRebalance:
		return "CompletingRebalance"
	case stateStable:
		return "Stable"
	}
	return "Empty"
}

// consumerProtocolType is the protocol type of Kafka consumers; its member
// metadata and assignments use the consumer protocol schemas, which the
// coordinator reads to learn subscriptions.
const consumerProtocolType = "consumer"

// emptyConsumerAssignment is a ConsumerMemberAssignment v0 with no topics
// and null user data. A member the leader left out gets it rather than zero
// bytes, which some clients cannot decode.
var emptyConsumerAssignment = []byte{0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}

// protocol is one (name, metadata) a member offers, in its preference order.
type protocol struct {
	name     string
	metadata []byte
}

// parked is a request waiting for the group: a JoinGroup until the join
// barrier completes, a SyncGroup until the leader's assignment arrives.
type parked struct {
	active  bool
	ticket  Ticket
	version int16
}

type classicMember struct {
	id                 string
	instanceID         *string
	clientID           string
	clientHost         string
	sessionTimeoutMs   int32
	rebalanceTimeoutMs int32
	protocols          []protocol
	assignment         []byte
	join, sync         parked
	session            *timer
}

func (m *classicMember) metadataFor(name string) []byte {
	for _, p := range m.protocols {
		if p.name == name {
			return p.metadata
		}
	}
	return nil
}

// classicGroup is the state of Kafka's classic protocol.
type classicGroup struct {
	state classicState
	// stateTimeMs is when the state last changed: Kafka's
	// currentStateTimestamp, from which offsets of an empty group expire.
	stateTimeMs  int64
	generation   int32
	protocolType string // "" for a group that only ever stored offsets
	protocol     string // selected at the last join; "" when none
	leader       string
	members      map[string]*classicMember
	// pending holds member ids handed out with MEMBER_ID_REQUIRED (KIP-394)
	// whose owners have not joined with them yet; each expires after the
	// session timeout.
	pending map[string]*timer
	// instances maps group.instance.id to the static member's id (KIP-345).
	instances map[string]string
	// supporters counts, per protocol name, the members offering it: a
	// protocol every member offers has supporters == len(members).
	supporters map[string]int
	// awaitingJoin counts members with a parked JoinGroup.
	awaitingJoin int
	// awaitingSync holds members that have not sent SyncGroup since the
	// join completed; those left when syncTimer fires are removed.
	awaitingSync map[string]bool

	joinTimer, syncTimer *timer
	// inInitialDelay: the first rebalance of an empty group waits
	// group.initial.rebalance.delay.ms for more members, extended while
	// members keep arriving, within the rebalance timeout.
	inInitialDelay   bool
	initialRemaining int64
	newMemberAdded   bool
}

func (cg *classicGroup) init(c *Coordinator, g *group, now int64) {
	cg.state = stateEmpty
	cg.stateTimeMs = now
	cg.members = make(map[string]*classicMember)
	cg.pending = make(map[string]*timer)
	cg.instances = make(map[string]string)
	cg.supporters = make(map[string]int)
	cg.joinTimer = newTimer(func(now int64) { c.onJoinTimer(g, now) })
	cg.syncTimer = newTimer(func(now int64) { c.onSyncTimer(g, now) })
}

func (cg *classicGroup) stopTimers(c *Coordinator) {
	c.timers.cancel(cg.joinTimer)
	c.timers.cancel(cg.syncTimer)
	for _, m := range cg.members {
		c.timers.cancel(m.session)
	}
	for _, t := range cg.pending {
		c.timers.cancel(t)
	}
}

func (cg *classicGroup) setState(s classicState, now int64) {
	cg.state = s
	cg.stateTimeMs = now
}

func (cg *classicGroup) maxRebalanceTimeoutMs() int64 {
	var rt int32
	for _, m := range cg.members {
		rt = max(rt, m.rebalanceTimeoutMs)
	}
	return int64(rt)
}

// supportsProtocols is Kafka's check that a joining member can be in the
// group: an empty group takes any non-empty offer, otherwise the protocol
// type must match and one offered protocol must be supported by everyone.
func (cg *classicGroup) supportsProtocols(protocolType string, ps []kmsg.JoinGroupRequestProtocol) bool {
	if len(cg.members) == 0 {
		return protocolType != "" && len(ps) > 0
	}
	if protocolType != cg.protocolType {
		return false
	}
	for _, p := range ps {
		if cg.supporters[p.Name] == len(cg.members) {
			return true
		}
	}
	return false
}

func (cg *classicGroup) addSupport(m *classicMember, delta int) {
	for _, p := range m.protocols {
		cg.supporters[p.name] += delta
		if cg.supporters[p.name] <= 0 {
			delete(cg.supporters, p.name)
		}
	}
}

// selectProtocol is Kafka's vote: among the protocols every member offers,
// each member votes for the one it prefers most; most votes wins, ties go
// to the name that sorts first.
func (cg *classicGroup) selectProtocol() string {
	votes := make(map[string]int)
	for _, m := range cg.members {
		for _, p := range m.protocols {
			if cg.supporters[p.name] == len(cg.members) {
				votes[p.name]++
				break
			}
		}
	}
	best, bestVotes := "", -1
	for name, v := range votes {
		if v > bestVotes || (v == bestVotes && name < best) {
			best, bestVotes = name, v
		}
	}
	return best
}

func toProtocols(ps []kmsg.JoinGroupRequestProtocol) []protocol {
	out := make([]protocol, len(ps))
	for i, p := range ps {
		// Copy: request buffers may be reused once the handler returns.
		out[i] = protocol{name: p.Name, metadata: bytes.Clone(p.Metadata)}
	}
	return out
}

func sameProtocols(m *classicMember, ps []kmsg.JoinGroupRequestProtocol) bool {
	if len(m.protocols) != len(ps) {
		return false
	}
	for i, p := range ps {
		if m.protocols[i].name != p.Name || !bytes.Equal(m.protocols[i].metadata, p.Metadata) {
			return false
		}
	}
	return true
}

// validGroupID: Kafka's groups need a non-empty id, and the id must fit
// the record schemas.
func validGroupID(id string) bool { return id != "" && len(id) <= maxStringLen }

func cloneString(s *string) *string {
	if s == nil {
		return nil
	}
	v := *s
	return &v
}

// JoinGroup handles a JoinGroup. It returns the response, or nil when the
// request is parked until the rebalance completes (answered through Ready
// with ticket t).
func (c *Coordinator) JoinGroup(now int64, t Ticket, cl Client, req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	fail := func(code int16) *kmsg.JoinGroupResponse {
		resp.ErrorCode = code
		resp.Generation = -1
		return resp
	}
	if !validGroupID(req.Group) {
		return fail(kerr.InvalidGroupID.Code)
	}
	if code := c.coordinatorError(req.Group); code != 0 {
		return fail(code)
	}
	if req.SessionTimeoutMillis < c.cfg.GroupMinSessionTimeoutMs || req.SessionTimeoutMillis > c.cfg.GroupMaxSessionTimeoutMs {
		return fail(kerr.InvalidSessionTimeout.Code)
	}
	if req.ProtocolType == "" || len(req.Protocols) == 0 || len(req.ProtocolType) > maxStringLen {
		return fail(kerr.InconsistentGroupProtocol.Code)
	}
	for _, p := range req.Protocols {
		if len(p.Name) > maxStringLen {
			return fail(kerr.InconsistentGroupProtocol.Code)
		}
	}
	if req.InstanceID != nil && (*req.InstanceID == "" || len(*req.InstanceID) > maxStringLen) {
		return fail(kerr.InvalidRequest.Code)
	}
	g := c.groups[req.Group]
	if g == nil {
		if req.MemberID != "" {
			return fail(kerr.UnknownMemberID.Code)
		}
		if g = c.newGroup(req.Group, kindClassic, now); g == nil {
			return fail(kerr.CoordinatorNotAvailable.Code)
		}
	}
	defer c.maybeDrop(g)
	if g.kind == kindConsumer {
		if !g.isEmpty() {
			return fail(kerr.InconsistentGroupProtocol.Code)
		}
		c.convertToClassic(g, now)
	}
	cg := &g.classic
	if !cg.supportsProtocols(req.ProtocolType, req.Protocols) {
		return fail(kerr.InconsistentGroupProtocol.Code)
	}
	rebalanceTimeout := req.RebalanceTimeoutMillis
	if req.Version == 0 || rebalanceTimeout <= 0 {
		rebalanceTimeout = req.SessionTimeoutMillis // v0 has no rebalance timeout: Kafka uses the session timeout
	}
	newMember := func(id string) *classicMember {
		m := &classicMember{
			id:                 id,
			instanceID:         cloneString(req.InstanceID),
			clientID:           cl.ID,
			clientHost:         cl.Host,
			sessionTimeoutMs:   req.SessionTimeoutMillis,
			rebalanceTimeoutMs: rebalanceTimeout,
			protocols:          toProtocols(req.Protocols),
		}
		m.session = newTimer(func(now int64) { c.onSessionTimeout(g, m, now) })
		return m
	}

	if req.MemberID == "" {
		if req.InstanceID != nil {
			if old := cg.members[cg.instances[*req.InstanceID]]; old != nil {
				return c.replaceStaticMember(g, old, newMember(c.cfg.NewMemberID(cl.ID)), t, req, now)
			}
		}
		if len(cg.members)+len(cg.pending) >= c.cfg.GroupMaxSize {
			return fail(kerr.GroupMaxSizeReached.Code)
		}
		id := c.cfg.NewMemberID(cl.ID)
		if req.InstanceID == nil && req.Version >= 4 {
			// KIP-394: hand out the id and wait for the member to come back
			// with it, so that a client that retries a join it timed out on
			// does not leave a ghost member behind.
			pt := newTimer(func(now int64) { c.onPendingTimeout(g, id, now) })
			cg.pending[id] = pt
			c.timers.schedule(pt, now+int64(req.SessionTimeoutMillis))
			resp.MemberID = id
			return fail(kerr.MemberIDRequired.Code)
		}
		c.addMemberAndRebalance(g, newMember(id), req.ProtocolType, t, req.Version, now)
		return nil
	}

	if req.InstanceID != nil {
		if owner, ok := cg.instances[*req.InstanceID]; ok && owner != req.MemberID {
			return fail(kerr.FencedInstanceID.Code)
		}
	}
	if pt, ok := cg.pending[req.MemberID]; ok {
		c.timers.cancel(pt)
		delete(cg.pending, req.MemberID)
		c.addMemberAndRebalance(g, newMember(req.MemberID), req.ProtocolType, t, req.Version, now)
		return nil
	}
	m := cg.members[req.MemberID]
	if m == nil {
		return fail(kerr.UnknownMemberID.Code)
	}
	if req.InstanceID == nil && m.instanceID != nil {
		return fail(kerr.FencedInstanceID.Code)
	}
	m.clientID, m.clientHost = cl.ID, cl.Host
	switch cg.state {
	case statePreparingRebalance:
		c.updateMember(g, m, req, rebalanceTimeout)
		c.parkJoin(g, m, t, req.Version)
		c.maybeCompleteJoin(g, now)
		return nil
	case stateCompletingRebalance:
		if sameProtocols(m, req.Protocols) {
			// The member lost our join response: answer it again.
			c.resetSession(m, now)
			return c.fillJoin(g, m, resp)
		}
	case stateStable:
		if m.id != cg.leader && sameProtocols(m, req.Protocols) {
			// A follower with nothing new: nothing to rebalance.
			c.resetSession(m, now)
			return c.fillJoin(g, m, resp)
		}
	default:
		return fail(kerr.UnknownMemberID.Code)
	}
	// A changed subscription, or the leader asking for a new assignment.
	c.updateMember(g, m, req, rebalanceTimeout)
	c.parkJoin(g, m, t, req.Version)
	c.prepareRebalance(g, now)
	return nil
}

func (c *Coordinator) updateMember(g *group, m *classicMember, req *kmsg.JoinGroupRequest, rebalanceTimeout int32) {
	g.classic.addSupport(m, -1)
	m.protocols = toProtocols(req.Protocols)
	g.classic.addSupport(m, +1)
	m.sessionTimeoutMs = req.SessionTimeoutMillis
	m.rebalanceTimeoutMs = rebalanceTimeout
}

// parkJoin parks m's JoinGroup; an older parked join of m is answered
// REBALANCE_IN_PROGRESS so that no caller waits forever.
func (c *Coordinator) parkJoin(g *group, m *classicMember, t Ticket, version int16) {
	if m.join.active {
		c.replyJoinError(m, kerr.RebalanceInProgress.Code)
	} else {
		g.classic.awaitingJoin++
	}
	m.join = parked{active: true, ticket: t, version: version}
}

func (c *Coordinator) replyJoinError(m *classicMember, code int16) {
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.Version = m.join.version
	resp.ErrorCode = code
	resp.Generation = -1
	resp.MemberID = m.id
	c.reply(m.join.ticket, resp)
	m.join = parked{}
}

func (c *Coordinator) replySyncError(m *classicMember, code int16) {
	resp := kmsg.NewPtrSyncGroupResponse()
	resp.Version = m.sync.version
	resp.ErrorCode = code
	c.reply(m.sync.ticket, resp)
	m.sync = parked{}
}

func (c *Coordinator) addMemberAndRebalance(g *group, m *classicMember, protocolType string, t Ticket, version int16, now int64) {
	cg := &g.classic
	if len(cg.members) == 0 {
		cg.protocolType = protocolType // the first member sets the group's protocol type
	}
	cg.members[m.id] = m
	cg.addSupport(m, +1)
	if m.instanceID != nil {
		cg.instances[*m.instanceID] = m.id
	}
	c.resetSession(m, now)
	cg.newMemberAdded = true
	c.parkJoin(g, m, t, version)
	c.rebalanceOrComplete(g, now)
}

// replaceStaticMember handles a static member (KIP-345) coming back with an
// empty member id: it takes over its old self's place under a new id, and
// the old id is fenced. A stable group does not rebalance when the member's
// protocols did not change.
func (c *Coordinator) replaceStaticMember(g *group, old, m *classicMember, t Ticket, req *kmsg.JoinGroupRequest, now int64) *kmsg.JoinGroupResponse {
	cg := &g.classic
	if old.join.active {
		c.replyJoinError(old, kerr.FencedInstanceID.Code)
		cg.awaitingJoin--
	}
	if old.sync.active {
		c.replySyncError(old, kerr.FencedInstanceID.Code)
	}
	c.timers.cancel(old.session)
	unchanged := sameProtocols(old, req.Protocols)
	cg.addSupport(old, -1)
	delete(cg.members, old.id)
	m.assignment = old.assignment
	cg.members[m.id] = m
	cg.addSupport(m, +1)
	cg.instances[*m.instanceID] = m.id
	if cg.awaitingSync[old.id] {
		delete(cg.awaitingSync, old.id)
		cg.awaitingSync[m.id] = true
	}
	wasLeader := cg.leader == old.id
	if wasLeader {
		cg.leader = m.id
	}
	c.resetSession(m, now)
	// A leader before JoinGroup v9 cannot be told to skip the assignment
	// (KIP-814), so it must go through a rebalance to learn the members.
	if cg.state == stateStable && unchanged && !(wasLeader && req.Version < 9) {
		resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
		c.fillJoin(g, m, resp)
		resp.SkipAssignment = wasLeader
		c.persistGroup(g)
		return resp
	}
	c.parkJoin(g, m, t, req.Version)
	c.rebalanceOrComplete(g, now)
	return nil
}

// fillJoin fills a successful join response for m at the current
// generation; the leader also gets every member's metadata.
func (c *Coordinator) fillJoin(g *group, m *classicMember, resp *kmsg.JoinGroupResponse) *kmsg.JoinGroupResponse {
	cg := &g.classic
	resp.Generation = cg.generation
	resp.ProtocolType = kmsg.StringPtr(cg.protocolType)
	resp.Protocol = kmsg.StringPtr(cg.protocol)
	resp.LeaderID = cg.leader
	resp.MemberID = m.id
	if m.id == cg.leader {
		ids := sortedKeys(cg.members)
		resp.Members = make([]kmsg.JoinGroupResponseMember, 0, len(ids))
		for _, id := range ids {
			o := cg.members[id]
			rm := kmsg.NewJoinGroupResponseMember()
			rm.MemberID = o.id
			rm.InstanceID = o.instanceID
			rm.ProtocolMetadata = o.metadataFor(cg.protocol)
			resp.Members = append(resp.Members, rm)
		}
	}
	return resp
}

func sortedKeys[V any](m map[string]V) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// rebalanceOrComplete starts a rebalance, or, when one is under way,
// checks whether everyone has now joined.
func (c *Coordinator) rebalanceOrComplete(g *group, now int64) {
	if g.classic.state == statePreparingRebalance {
		c.maybeCompleteJoin(g, now)
		return
	}
	c.prepareRebalance(g, now)
}

// prepareRebalance moves the group to PreparingRebalance: members must
// join again within the rebalance timeout.
func (c *Coordinator) prepareRebalance(g *group, now int64) {
	cg := &g.classic
	if cg.state == statePreparingRebalance {
		c.maybeCompleteJoin(g, now)
		return
	}
	if cg.state == stateCompletingRebalance {
		// The assignment being waited for is void: tell parked syncs to
		// rejoin.
		for _, id := range sortedKeys(cg.members) {
			m := cg.members[id]
			m.assignment = nil
			if m.sync.active {
				c.replySyncError(m, kerr.RebalanceInProgress.Code)
			}
		}
		cg.awaitingSync = nil
		c.timers.cancel(cg.syncTimer)
	}
	wasEmpty := cg.state == stateEmpty
	cg.setState(statePreparingRebalance, now)
	rt := cg.maxRebalanceTimeoutMs()
	if delay := int64(c.cfg.GroupInitialRebalanceDelayMs); wasEmpty && delay > 0 {
		d := min(delay, rt)
		cg.inInitialDelay = true
		cg.initialRemaining = rt - d
		cg.newMemberAdded = false
		c.timers.schedule(cg.joinTimer, now+d)
		return
	}
	cg.inInitialDelay = false
	c.timers.schedule(cg.joinTimer, now+rt)
	c.maybeCompleteJoin(g, now)
}

// maybeCompleteJoin completes the join barrier when every member and every
// member id handed out has joined.
func (c *Coordinator) maybeCompleteJoin(g *group, now int64) {
	cg := &g.classic
	if cg.state != statePreparingRebalance || cg.inInitialDelay {
		return
	}
	if cg.awaitingJoin == len(cg.members) && len(cg.pending) == 0 {
		c.completeJoin(g, now)
	}
}

func (c *Coordinator) onJoinTimer(g *group, now int64) {
	cg := &g.classic
	if cg.state != statePreparingRebalance {
		return
	}
	if cg.inInitialDelay {
		if cg.newMemberAdded && cg.initialRemaining > 0 {
			d := min(int64(c.cfg.GroupInitialRebalanceDelayMs), cg.initialRemaining)
			cg.initialRemaining -= d
			cg.newMemberAdded = false
			c.timers.schedule(cg.joinTimer, now+d)
			return
		}
		cg.inInitialDelay = false
	}
	c.completeJoin(g, now)
	c.maybeDrop(g)
}

// completeJoin ends the join barrier: members that did not join are
// removed, a new generation starts, and every joined member gets its join
// response (the leader with the members' metadata).
func (c *Coordinator) completeJoin(g *group, now int64) {
	cg := &g.classic
	c.timers.cancel(cg.joinTimer)
	cg.inInitialDelay = false
	for _, id := range sortedKeys(cg.members) {
		if m := cg.members[id]; !m.join.active {
			c.removeMember(g, m)
		}
	}
	cg.generation++
	if len(cg.members) == 0 {
		cg.protocol, cg.leader = "", ""
		cg.setState(stateEmpty, now)
		if g.numOffsets > 0 {
			c.persistGroup(g) // an empty group without offsets is dropped by the caller instead
		}
		return
	}
	cg.protocol = cg.selectProtocol()
	if _, ok := cg.members[cg.leader]; !ok {
		cg.leader = sortedKeys(cg.members)[0]
	}
	cg.setState(stateCompletingRebalance, now)
	cg.awaitingSync = make(map[string]bool, len(cg.members))
	for _, id := range sortedKeys(cg.members) {
		m := cg.members[id]
		cg.awaitingSync[id] = true
		resp := kmsg.NewPtrJoinGroupResponse()
		resp.Version = m.join.version
		c.fillJoin(g, m, resp)
		c.reply(m.join.ticket, resp)
		m.join = parked{}
		c.resetSession(m, now)
	}
	cg.awaitingJoin = 0
	c.timers.schedule(cg.syncTimer, now+cg.maxRebalanceTimeoutMs())
}

// onSyncTimer removes the members that never sent SyncGroup after the
// join completed, and rebalances without them.
func (c *Coordinator) onSyncTimer(g *group, now int64) {
	cg := &g.classic
	if cg.state != stateCompletingRebalance {
		return
	}
	for _, id := range sortedKeys(cg.awaitingSync) {
		if m := cg.members[id]; m != nil {
			c.removeMember(g, m)
		}
	}
	c.prepareRebalance(g, now)
	c.maybeDrop(g)
}

func (c *Coordinator) resetSession(m *classicMember, now int64) {
	c.timers.schedule(m.session, now+int64(m.sessionTimeoutMs))
}

// onSessionTimeout expires a member that stopped heartbeating. A member
// parked in JoinGroup or SyncGroup is waiting on us, not gone: its session
// restarts instead.
func (c *Coordinator) onSessionTimeout(g *group, m *classicMember, now int64) {
	if g.classic.members[m.id] != m {
		return
	}
	if m.join.active || m.sync.active {
		c.resetSession(m, now)
		return
	}
	c.removeMember(g, m)
	c.rebalanceOrComplete(g, now)
	c.maybeDrop(g)
}

func (c *Coordinator) onPendingTimeout(g *group, id string, now int64) {
	if _, ok := g.classic.pending[id]; !ok {
		return
	}
	delete(g.classic.pending, id)
	c.maybeCompleteJoin(g, now)
	c.maybeDrop(g)
}

// removeMember takes m out of the group, answering its parked requests
// with UNKNOWN_MEMBER_ID. It does not start a rebalance.
func (c *Coordinator) removeMember(g *group, m *classicMember) {
	cg := &g.classic
	if m.join.active {
		c.replyJoinError(m, kerr.UnknownMemberID.Code)
		cg.awaitingJoin--
	}
	if m.sync.active {
		c.replySyncError(m, kerr.UnknownMemberID.Code)
	}
	c.timers.cancel(m.session)
	cg.addSupport(m, -1)
	delete(cg.members, m.id)
	delete(cg.awaitingSync, m.id)
	if m.instanceID != nil && cg.instances[*m.instanceID] == m.id {
		delete(cg.instances, *m.instanceID)
	}
	if cg.leader == m.id {
		cg.leader = ""
	}
}

// validateMember is the check shared by SyncGroup, Heartbeat and
// OffsetCommit: the member exists and is not a fenced static member.
func (cg *classicGroup) validateMember(memberID string, instanceID *string) (*classicMember, int16) {
	if instanceID != nil {
		if owner, ok := cg.instances[*instanceID]; ok && owner != memberID {
			return nil, kerr.FencedInstanceID.Code
		}
	}
	m := cg.members[memberID]
	if m == nil {
		return nil, kerr.UnknownMemberID.Code
	}
	return m, 0
}

// SyncGroup handles a SyncGroup. It returns the response, or nil when the
// request is parked until the leader's assignment arrives (answered through
// Ready with ticket t); the leader's own request is answered through Ready
// too.
func (c *Coordinator) SyncGroup(now int64, t Ticket, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	fail := func(code int16) *kmsg.SyncGroupResponse {
		resp.ErrorCode = code
		return resp
	}
	if req.Group == "" {
		return fail(kerr.InvalidGroupID.Code)
	}
	if code := c.coordinatorError(req.Group); code != 0 {
		return fail(code)
	}
	g := c.groups[req.Group]
	if g == nil || g.kind != kindClassic {
		return fail(kerr.UnknownMemberID.Code)
	}
	cg := &g.classic
	m, code := cg.validateMember(req.MemberID, req.InstanceID)
	if code != 0 {
		return fail(code)
	}
	if req.Generation != cg.generation {
		return fail(kerr.IllegalGeneration.Code)
	}
	if (req.ProtocolType != nil && *req.ProtocolType != cg.protocolType) || (req.Protocol != nil && *req.Protocol != cg.protocol) {
		return fail(kerr.InconsistentGroupProtocol.Code)
	}
	switch cg.state {
	case statePreparingRebalance:
		return fail(kerr.RebalanceInProgress.Code)
	case stateCompletingRebalance:
		if m.sync.active {
			c.replySyncError(m, kerr.RebalanceInProgress.Code)
		}
		m.sync = parked{active: true, ticket: t, version: req.Version}
		delete(cg.awaitingSync, m.id)
		c.resetSession(m, now)
		if m.id == cg.leader {
			c.completeSync(g, req.GroupAssignment, now)
		}
		return nil
	case stateStable:
		c.resetSession(m, now)
		resp.ProtocolType = kmsg.StringPtr(cg.protocolType)
		resp.Protocol = kmsg.StringPtr(cg.protocol)
		resp.MemberAssignment = c.assignmentOf(g, m)
		return resp
	}
	return fail(kerr.UnknownMemberID.Code)
}

func (c *Coordinator) assignmentOf(g *group, m *classicMember) []byte {
	if len(m.assignment) == 0 && g.classic.protocolType == consumerProtocolType {
		return emptyConsumerAssignment
	}
	return m.assignment
}

// completeSync stores the leader's assignment, makes the group Stable,
// persists it and answers every parked SyncGroup.
func (c *Coordinator) completeSync(g *group, assignments []kmsg.SyncGroupRequestGroupAssignment, now int64) {
	cg := &g.classic
	for _, m := range cg.members {
		m.assignment = nil
	}
	for _, a := range assignments {
		if m := cg.members[a.MemberID]; m != nil {
			m.assignment = bytes.Clone(a.MemberAssignment)
		}
	}
	cg.setState(stateStable, now)
	cg.awaitingSync = nil
	c.timers.cancel(cg.syncTimer)
	c.persistGroup(g)
	for _, id := range sortedKeys(cg.members) {
		m := cg.members[id]
		if !m.sync.active {
			continue
		}
		resp := kmsg.NewPtrSyncGroupResponse()
		resp.Version = m.sync.version
		resp.ProtocolType = kmsg.StringPtr(cg.protocolType)
		resp.Protocol = kmsg.StringPtr(cg.protocol)
		resp.MemberAssignment = c.assignmentOf(g, m)
		c.reply(m.sync.ticket, resp)
		m.sync = parked{}
	}
}

// Heartbeat handles a classic Heartbeat.
func (c *Coordinator) Heartbeat(now int64, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	resp.ErrorCode = c.heartbeat(now, req)
	return resp
}

func (c *Coordinator) heartbeat(now int64, req *kmsg.HeartbeatRequest) int16 {
	if req.Group == "" {
		return kerr.InvalidGroupID.Code
	}
	if code := c.coordinatorError(req.Group); code != 0 {
		return code
	}
	g := c.groups[req.Group]
	if g == nil || g.kind != kindClassic {
		return kerr.UnknownMemberID.Code
	}
	cg := &g.classic
	m, code := cg.validateMember(req.MemberID, req.InstanceID)
	if code != 0 {
		return code
	}
	if req.Generation != cg.generation {
		return kerr.IllegalGeneration.Code
	}
	switch cg.state {
	case statePreparingRebalance:
		c.resetSession(m, now)
		return kerr.RebalanceInProgress.Code
	case stateCompletingRebalance, stateStable:
		c.resetSession(m, now)
		return 0
	}
	return kerr.UnknownMemberID.Code
}

// LeaveGroup handles a LeaveGroup: one member (v0-v2) or a batch (v3+),
// dynamic members by member id, static ones by group.instance.id.
func (c *Coordinator) LeaveGroup(now int64, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	members := req.Members
	if req.Version < 3 {
		members = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	code := int16(0)
	switch {
	case req.Group == "":
		code = kerr.InvalidGroupID.Code
	default:
		code = c.coordinatorError(req.Group)
	}
	g := c.groups[req.Group]
	if code == 0 && (g == nil || g.kind != kindClassic) {
		code = kerr.UnknownMemberID.Code
	}
	if code != 0 {
		resp.ErrorCode = code
		return resp
	}
	cg := &g.classic
	removed := false
	for _, lm := range members {
		r := kmsg.NewLeaveGroupResponseMember()
		r.MemberID, r.InstanceID = lm.MemberID, lm.InstanceID
		r.ErrorCode = c.leaveOne(g, lm)
		if r.ErrorCode == 0 {
			removed = true
		}
		resp.Members = append(resp.Members, r)
	}
	if removed {
		if cg.state != stateEmpty {
			c.rebalanceOrComplete(g, now)
		}
		c.maybeDrop(g)
	}
	if req.Version < 3 {
		resp.ErrorCode = resp.Members[0].ErrorCode
		resp.Members = nil
	}
	return resp
}

func (c *Coordinator) leaveOne(g *group, lm kmsg.LeaveGroupRequestMember) int16 {
	cg := &g.classic
	id := lm.MemberID
	if lm.InstanceID != nil {
		owner, ok := cg.instances[*lm.InstanceID]
		if !ok {
			return kerr.UnknownMemberID.Code
		}
		if id != "" && id != owner {
			return kerr.FencedInstanceID.Code
		}
		id = owner
	}
	if pt, ok := cg.pending[id]; ok {
		c.timers.cancel(pt)
		delete(cg.pending, id)
		return 0
	}
	m := cg.members[id]
	if m == nil {
		return kerr.UnknownMemberID.Code
	}
	if lm.InstanceID == nil && m.instanceID != nil {
		return kerr.FencedInstanceID.Code
	}
	c.removeMember(g, m)
	return 0
}

// persistGroup writes the classic group's metadata (group metadata value
// v3) so that a restarted coordinator knows its generation and members.
func (c *Coordinator) persistGroup(g *group) {
	c.emit(Record{Partition: g.partition, Key: encodeGroupKey(g.id), Value: encodeGroupValue(g)})
	g.persisted = true
}

// convertToClassic turns an empty KIP-848 group into a classic one,
// keeping its offsets.
func (c *Coordinator) convertToClassic(g *group, now int64) {
	g.consumer.stopTimers(c)
	g.consumer = nil
	g.kind = kindClassic
	g.classic.init(c, g, now)
}

// classicSubscriptions returns the topics the members of a "consumer"
// protocol group subscribe to, read from their metadata; ok is false when
// that cannot be known (another protocol type, or metadata that does not
// parse), and then the group must be taken to use every topic.
func (cg *classicGroup) subscriptions() (topics map[string]bool, ok bool) {
	if cg.protocolType != consumerProtocolType || cg.protocol == "" {
		return nil, len(cg.members) == 0
	}
	topics = make(map[string]bool)
	for _, m := range cg.members {
		var md kmsg.ConsumerMemberMetadata
		if err := md.ReadFrom(m.metadataFor(cg.protocol)); err != nil {
			return nil, false
		}
		for _, t := range md.Topics {
			topics[t] = true
		}
	}
	return topics, true
}
