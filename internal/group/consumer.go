package group

import (
	"regexp"
	"slices"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// memberState is a KIP-848 member's place in reconciling with its target.
type memberState int8

const (
	// memberStable: the member owns what the target gives it at its epoch.
	memberStable memberState = iota
	// memberUnrevoked: the member must first give up pendingRevocation;
	// its epoch stays until it says (in a heartbeat's owned partitions)
	// that it has.
	memberUnrevoked
	// memberUnreleased: the member is at the target epoch but part of its
	// target is still held by members revoking it; it gets those partitions
	// on a later heartbeat, once they are free.
	memberUnreleased
)

// Static members that left with epoch -2 (KIP-848's "temporary leave")
// keep their partitions, unassigned to others, until they come back or
// their session expires.
const staticLeftEpoch = -2

type consumerMember struct {
	id                 string
	instanceID         *string
	rackID             *string
	clientID           string
	clientHost         string
	epoch              int32
	previousEpoch      int32
	state              memberState
	rebalanceTimeoutMs int32
	topicNames         []string // sorted, unique
	regex              string   // "" when none
	assignor           string   // the server assignor it asked for, "" if none

	// assigned is what the member owns as far as the coordinator knows:
	// what it was last told. pendingRevocation is what it must give up
	// before its next epoch; both are in owners under its id.
	assigned          assignment
	pendingRevocation assignment
	target            assignment

	session    *timer
	revocation *timer // rebalance timeout while memberUnrevoked
}

// consumerGroup is the state of a KIP-848 group.
type consumerGroup struct {
	// epoch (the group epoch) increases with every change of membership,
	// subscriptions or subscribed topics' metadata; targetEpoch is the
	// epoch the current target assignment was computed at.
	epoch       int32
	targetEpoch int32
	members     map[string]*consumerMember
	instances   map[string]string // group.instance.id -> member id
	// owners says which member holds each partition, assigned or pending
	// revocation: a partition goes to a new member only once it is free,
	// so no two members ever consume it at once.
	owners map[TopicID]map[int32]string
	// resolved is the metadata of the topics the members subscribe to, as
	// of the last target computation: a change bumps the epoch.
	resolved     map[string]TopicInfo
	assignor     string
	emptySinceMs int64
	// epochChangedMs is when the epoch last moved: members heartbeat
	// sooner while the group is changing (see setInterval).
	epochChangedMs int64
	regexes        map[string]*regexEntry
}

// regexEntry caches a subscription regex and its matches at one topics
// version.
type regexEntry struct {
	re      *regexp.Regexp
	version uint64
	matches []string
}

func newConsumerGroup() *consumerGroup {
	return &consumerGroup{
		members:   make(map[string]*consumerMember),
		instances: make(map[string]string),
		owners:    make(map[TopicID]map[int32]string),
		resolved:  make(map[string]TopicInfo),
		regexes:   make(map[string]*regexEntry),
	}
}

func (cs *consumerGroup) stopTimers(c *Coordinator) {
	for _, m := range cs.members {
		c.timers.cancel(m.session)
		c.timers.cancel(m.revocation)
	}
}

func (cs *consumerGroup) stateName() string {
	if len(cs.members) == 0 {
		return "Empty"
	}
	if cs.epoch != cs.targetEpoch {
		return "Assigning"
	}
	for _, m := range cs.members {
		if m.epoch != staticLeftEpoch && (m.epoch != cs.targetEpoch || m.state != memberStable) {
			return "Reconciling"
		}
	}
	return "Stable"
}

// subscribedTopicNames is every topic a member subscribes to by name
// (existing or not) or by regex.
func (cs *consumerGroup) subscribedTopicNames() map[string]bool {
	out := make(map[string]bool)
	for _, m := range cs.members {
		for _, t := range m.topicNames {
			out[t] = true
		}
	}
	for t := range cs.resolved {
		out[t] = true
	}
	return out
}

func (cs *consumerGroup) claim(m *consumerMember, a assignment) {
	for t, ps := range a {
		o := cs.owners[t]
		if o == nil {
			o = make(map[int32]string)
			cs.owners[t] = o
		}
		for _, p := range ps {
			o[p] = m.id
		}
	}
}

func (cs *consumerGroup) release(m *consumerMember, a assignment) {
	for t, ps := range a {
		o := cs.owners[t]
		for _, p := range ps {
			if o[p] == m.id {
				delete(o, p)
			}
		}
		if len(o) == 0 {
			delete(cs.owners, t)
		}
	}
}

func (cs *consumerGroup) ownerOf(t TopicID, p int32) string { return cs.owners[t][p] }

// validAssignor reports whether name is offered (group.consumer.assignors)
// and implemented.
func (c *Coordinator) validAssignor(name string) bool {
	_, ok := assignors[name]
	return ok && slices.Contains(c.cfg.ConsumerAssignors, name)
}

// compileSubscription compiles a KIP-848 regex. Kafka uses RE2/J with
// whole-name matching; Go's regexp is RE2 too, anchored here to match
// whole names.
func compileSubscription(src string) (*regexp.Regexp, error) {
	return regexp.Compile("^(?:" + src + ")$")
}

// ConsumerGroupHeartbeat handles KIP-848's ConsumerGroupHeartbeat: a join
// (epoch 0), a leave (-1, or -2 for a static member that will be back) or
// a heartbeat that reports the owned partitions and gets the next
// assignment.
func (c *Coordinator) ConsumerGroupHeartbeat(now int64, cl Client, req *kmsg.ConsumerGroupHeartbeatRequest) *kmsg.ConsumerGroupHeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	resp.HeartbeatIntervalMillis = c.cfg.ConsumerHeartbeatIntervalMs
	fail := func(code int16, msg string) *kmsg.ConsumerGroupHeartbeatResponse {
		resp.ErrorCode = code
		if msg != "" {
			resp.ErrorMessage = &msg
		}
		return resp
	}
	if code, msg := c.checkHeartbeat(req); code != 0 {
		return fail(code, msg)
	}
	if code := c.coordinatorError(req.Group); code != 0 {
		return fail(code, "")
	}
	g := c.groups[req.Group]
	if g == nil {
		if req.MemberEpoch != 0 {
			return fail(kerr.UnknownMemberID.Code, "")
		}
		if g = c.newGroup(req.Group, kindConsumer, now); g == nil {
			return fail(kerr.CoordinatorNotAvailable.Code, "")
		}
	}
	defer c.maybeDrop(g)
	if g.kind == kindClassic {
		if len(g.classic.members) > 0 || len(g.classic.pending) > 0 {
			return fail(kerr.GroupIDNotFound.Code, "group "+req.Group+" is not a consumer group")
		}
		c.convertToConsumer(g)
	}
	switch req.MemberEpoch {
	case 0:
		return c.consumerJoin(now, g, cl, req, resp)
	case -1, staticLeftEpoch:
		return c.consumerLeave(now, g, req, resp)
	}
	return c.consumerHeartbeat(now, g, req, resp)
}

// checkHeartbeat is Kafka's validation of the request's shape.
func (c *Coordinator) checkHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest) (int16, string) {
	switch {
	case req.Group == "":
		return kerr.InvalidRequest.Code, "GroupId can't be empty."
	case req.InstanceID != nil && *req.InstanceID == "":
		return kerr.InvalidRequest.Code, "InstanceId can't be empty."
	case req.RackID != nil && *req.RackID == "":
		return kerr.InvalidRequest.Code, "RackId can't be empty."
	case req.MemberEpoch < staticLeftEpoch:
		return kerr.InvalidRequest.Code, "MemberEpoch is invalid."
	case req.MemberID == "" && (req.Version >= 1 || req.MemberEpoch != 0):
		return kerr.InvalidRequest.Code, "MemberId can't be empty."
	case req.MemberEpoch == 0 && req.RebalanceTimeoutMillis == -1:
		return kerr.InvalidRequest.Code, "RebalanceTimeoutMs must be provided in first request."
	case req.MemberEpoch == 0 && (req.Topics == nil || len(req.Topics) > 0):
		return kerr.InvalidRequest.Code, "TopicPartitions must be empty when (re-)joining."
	case req.MemberEpoch == 0 && req.SubscribedTopicNames == nil && req.SubscribedTopicRegex == nil:
		return kerr.InvalidRequest.Code, "SubscribedTopicNames or SubscribedTopicRegex must be set in first request."
	case req.ServerAssignor != nil && !c.validAssignor(*req.ServerAssignor):
		return kerr.UnsupportedAssignor.Code, "ServerAssignor " + *req.ServerAssignor + " is not supported."
	}
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != "" {
		if _, err := compileSubscription(*req.SubscribedTopicRegex); err != nil {
			return kerr.InvalidRegularExpression.Code, err.Error()
		}
	}
	return 0, ""
}

func (c *Coordinator) convertToConsumer(g *group) {
	g.classic.stopTimers(c)
	if g.persisted {
		// The classic group's metadata record is void now.
		c.emit(Record{Partition: g.partition, Key: encodeGroupKey(g.id)})
		g.persisted = false
	}
	g.kind = kindConsumer
	g.consumer = newConsumerGroup()
}

func (c *Coordinator) newConsumerMember(g *group, id string) *consumerMember {
	m := &consumerMember{id: id, assigned: assignment{}, target: assignment{}}
	m.session = newTimer(func(now int64) { c.onConsumerSessionTimeout(g, m, now) })
	m.revocation = newTimer(func(now int64) { c.onRevocationTimeout(g, m, now) })
	return m
}

// updateSubscription applies the optional fields of a heartbeat and
// reports whether the subscription changed.
func (c *Coordinator) updateSubscription(m *consumerMember, req *kmsg.ConsumerGroupHeartbeatRequest) bool {
	changed := false
	if req.SubscribedTopicNames != nil {
		names := slices.Clone(req.SubscribedTopicNames)
		sort.Strings(names)
		names = slices.Compact(names)
		if !slices.Equal(names, m.topicNames) {
			m.topicNames, changed = names, true
		}
	}
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != m.regex {
		m.regex, changed = *req.SubscribedTopicRegex, true
	}
	if req.ServerAssignor != nil && *req.ServerAssignor != m.assignor {
		m.assignor, changed = *req.ServerAssignor, true
	}
	if req.RackID != nil {
		m.rackID = cloneString(req.RackID)
	}
	if req.RebalanceTimeoutMillis > 0 {
		m.rebalanceTimeoutMs = req.RebalanceTimeoutMillis
	}
	return changed
}

func (c *Coordinator) consumerJoin(now int64, g *group, cl Client, req *kmsg.ConsumerGroupHeartbeatRequest, resp *kmsg.ConsumerGroupHeartbeatResponse) *kmsg.ConsumerGroupHeartbeatResponse {
	cs := g.consumer
	id := req.MemberID
	if id == "" {
		id = c.cfg.NewMemberID(cl.ID) // v0: the coordinator names members
	}
	m := cs.members[id]
	changed := false
	if req.InstanceID != nil {
		if ownerID, ok := cs.instances[*req.InstanceID]; ok && ownerID != id {
			old := cs.members[ownerID]
			if old != nil && old.epoch != staticLeftEpoch {
				resp.ErrorCode = kerr.UnreleasedInstanceID.Code
				return resp
			}
			if old != nil {
				m = c.takeOverStatic(g, old, id)
			}
		}
	}
	if m == nil {
		if len(cs.members) >= c.cfg.GroupMaxSize {
			resp.ErrorCode = kerr.GroupMaxSizeReached.Code
			return resp
		}
		m = c.newConsumerMember(g, id)
		m.instanceID = cloneString(req.InstanceID)
		cs.members[id] = m
		if m.instanceID != nil {
			cs.instances[*m.instanceID] = id
		}
		changed = true
	} else if m.epoch == staticLeftEpoch {
		m.epoch = m.previousEpoch // the static member is back with its id
	}
	m.clientID, m.clientHost = cl.ID, cl.Host
	if c.updateSubscription(m, req) {
		changed = true
	}
	if changed {
		c.bumpEpoch(g, now)
	}
	c.resetConsumerSession(m, now)
	// A joining member owns nothing, whatever it owned before.
	c.reconcile(g, m, assignment{}, now)
	resp.MemberID = kmsg.StringPtr(m.id)
	resp.MemberEpoch = m.epoch
	resp.Assignment = m.assigned.toHeartbeat()
	c.setInterval(now, g, m, resp)
	return resp
}

// takeOverStatic gives a static member's place (partitions, target, epoch)
// to the new member id of the same instance, which rejoined after the old
// one left with epoch -2.
func (c *Coordinator) takeOverStatic(g *group, old *consumerMember, id string) *consumerMember {
	cs := g.consumer
	m := c.newConsumerMember(g, id)
	m.instanceID = old.instanceID
	m.topicNames, m.regex, m.assignor = old.topicNames, old.regex, old.assignor
	m.rebalanceTimeoutMs = old.rebalanceTimeoutMs
	m.epoch, m.previousEpoch = old.previousEpoch, old.previousEpoch
	m.assigned, m.target = old.assigned, old.target
	cs.release(old, old.assigned)
	cs.release(old, old.pendingRevocation)
	c.timers.cancel(old.session)
	c.timers.cancel(old.revocation)
	delete(cs.members, old.id)
	cs.members[id] = m
	cs.instances[*m.instanceID] = id
	cs.claim(m, m.assigned)
	return m
}

func (c *Coordinator) consumerLeave(now int64, g *group, req *kmsg.ConsumerGroupHeartbeatRequest, resp *kmsg.ConsumerGroupHeartbeatResponse) *kmsg.ConsumerGroupHeartbeatResponse {
	cs := g.consumer
	m := cs.members[req.MemberID]
	if m == nil {
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp
	}
	resp.MemberID = kmsg.StringPtr(m.id)
	resp.MemberEpoch = req.MemberEpoch
	if req.MemberEpoch == staticLeftEpoch && m.instanceID != nil {
		// A static member leaving for a while (a rolling restart): keep
		// its partitions for it until its session expires; only what it
		// was revoking goes.
		cs.release(m, m.pendingRevocation)
		m.pendingRevocation = nil
		c.timers.cancel(m.revocation)
		m.state = memberStable
		if m.epoch != staticLeftEpoch {
			m.previousEpoch = m.epoch
		}
		m.epoch = staticLeftEpoch
		return resp
	}
	c.removeConsumerMember(g, m, now)
	c.bumpEpoch(g, now)
	return resp
}

func (c *Coordinator) consumerHeartbeat(now int64, g *group, req *kmsg.ConsumerGroupHeartbeatRequest, resp *kmsg.ConsumerGroupHeartbeatResponse) *kmsg.ConsumerGroupHeartbeatResponse {
	cs := g.consumer
	m := cs.members[req.MemberID]
	if m == nil {
		if req.InstanceID != nil {
			if owner, ok := cs.instances[*req.InstanceID]; ok && owner != req.MemberID {
				resp.ErrorCode = kerr.FencedInstanceID.Code
				return resp
			}
		}
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp
	}
	owned := ownedFromRequest(req.Topics)
	if m.epoch == staticLeftEpoch {
		resp.ErrorCode = kerr.FencedMemberEpoch.Code // it left; only a join brings it back
		return resp
	}
	if req.MemberEpoch != m.epoch {
		// The previous epoch with owned partitions we gave it: the member
		// lost the response that moved it on. Anything else is fenced.
		if req.MemberEpoch != m.previousEpoch || owned == nil || !owned.subsetOf(m.assigned) {
			resp.ErrorCode = kerr.FencedMemberEpoch.Code
			return resp
		}
	}
	c.resetConsumerSession(m, now)
	if c.updateSubscription(m, req) {
		c.bumpEpoch(g, now)
	}
	before := m.assigned
	c.reconcile(g, m, owned, now)
	full := req.RebalanceTimeoutMillis != -1 && (req.SubscribedTopicNames != nil || req.SubscribedTopicRegex != nil) && req.Topics != nil
	if full || !before.equal(m.assigned) {
		resp.Assignment = m.assigned.toHeartbeat()
	}
	resp.MemberID = kmsg.StringPtr(m.id)
	resp.MemberEpoch = m.epoch
	c.setInterval(now, g, m, resp)
	return resp
}

// reconcilingHeartbeatMs is the heartbeat interval given to members while
// their group changes: a member still reconciling (revoking, or waiting
// for partitions others release) depends on others, and a stable member
// of a group whose epoch moved within the last full interval may be told
// to revoke on its next heartbeat. The coordinator cannot push, so it asks
// them back sooner than group.consumer.heartbeat.interval.ms, and a
// rebalance takes a few of these rather than a few full intervals (Kafka
// keeps the full interval; the cost is a few more heartbeats while a group
// churns).
const reconcilingHeartbeatMs = 500

func (c *Coordinator) setInterval(now int64, g *group, m *consumerMember, resp *kmsg.ConsumerGroupHeartbeatResponse) {
	full := c.cfg.ConsumerHeartbeatIntervalMs
	resp.HeartbeatIntervalMillis = full
	cs := g.consumer
	if m.state != memberStable || m.epoch != cs.targetEpoch || now-cs.epochChangedMs < int64(full) {
		resp.HeartbeatIntervalMillis = min(full, reconcilingHeartbeatMs)
	}
}

func (c *Coordinator) resetConsumerSession(m *consumerMember, now int64) {
	c.timers.schedule(m.session, now+int64(c.cfg.ConsumerSessionTimeoutMs))
}

func (c *Coordinator) onConsumerSessionTimeout(g *group, m *consumerMember, now int64) {
	if g.consumer == nil || g.consumer.members[m.id] != m {
		return
	}
	c.removeConsumerMember(g, m, now)
	c.bumpEpoch(g, now)
	c.maybeDrop(g)
}

// onRevocationTimeout fences a member that did not give up its revoked
// partitions within its rebalance timeout, so that others can have them.
func (c *Coordinator) onRevocationTimeout(g *group, m *consumerMember, now int64) {
	if g.consumer == nil || g.consumer.members[m.id] != m || m.state != memberUnrevoked {
		return
	}
	c.removeConsumerMember(g, m, now)
	c.bumpEpoch(g, now)
	c.maybeDrop(g)
}

func (c *Coordinator) removeConsumerMember(g *group, m *consumerMember, now int64) {
	cs := g.consumer
	cs.release(m, m.assigned)
	cs.release(m, m.pendingRevocation)
	c.timers.cancel(m.session)
	c.timers.cancel(m.revocation)
	delete(cs.members, m.id)
	if m.instanceID != nil && cs.instances[*m.instanceID] == m.id {
		delete(cs.instances, *m.instanceID)
	}
	if len(cs.members) == 0 {
		cs.emptySinceMs = now
	}
}

// bumpEpoch starts a new group epoch and computes its target assignment.
func (c *Coordinator) bumpEpoch(g *group, now int64) {
	g.consumer.epoch++
	g.consumer.epochChangedMs = now
	c.computeTarget(g)
}

// resolve is the sorted names of the existing topics m subscribes to.
func (c *Coordinator) resolve(cs *consumerGroup, m *consumerMember) []string {
	var out []string
	for _, t := range m.topicNames {
		if _, ok := c.topics[t]; ok {
			out = append(out, t)
		}
	}
	if m.regex != "" {
		out = append(out, c.regexMatches(cs, m.regex)...)
		sort.Strings(out)
		out = slices.Compact(out)
	}
	return out
}

func (c *Coordinator) regexMatches(cs *consumerGroup, src string) []string {
	e := cs.regexes[src]
	if e == nil {
		re, err := compileSubscription(src)
		if err != nil {
			return nil // validated when subscribed; cannot happen
		}
		e = &regexEntry{re: re, version: c.topicsVersion - 1}
		cs.regexes[src] = e
	}
	if e.version != c.topicsVersion {
		e.matches = e.matches[:0]
		for name, t := range c.topics {
			if !t.Internal && e.re.MatchString(name) {
				e.matches = append(e.matches, name)
			}
		}
		sort.Strings(e.matches)
		e.version = c.topicsVersion
	}
	return e.matches
}

// computeTarget runs the group's assignor over its members'
// subscriptions: the target assignment of the current group epoch.
func (c *Coordinator) computeTarget(g *group) {
	cs := g.consumer
	cs.targetEpoch = cs.epoch
	ids := sortedKeys(cs.members)
	members := make([]assignorMember, 0, len(ids))
	resolved := make(map[string]TopicInfo)
	regexes := make(map[string]bool)
	votes := make(map[string]int)
	for _, id := range ids {
		m := cs.members[id]
		topics := c.resolve(cs, m)
		for _, t := range topics {
			resolved[t] = c.topics[t]
		}
		if m.regex != "" {
			regexes[m.regex] = true
		}
		if m.assignor != "" {
			votes[m.assignor]++
		}
		key := m.id
		if m.instanceID != nil {
			key = *m.instanceID
		}
		members = append(members, assignorMember{id: m.id, rangeKey: key, topics: topics, prev: m.target})
	}
	for src := range cs.regexes {
		if !regexes[src] {
			delete(cs.regexes, src) // bound the cache to regexes in use
		}
	}
	cs.resolved = resolved
	// The assignor most members ask for; ties and no votes go to the
	// first of group.consumer.assignors.
	cs.assignor = c.cfg.ConsumerAssignors[0]
	best := 0
	for _, name := range c.cfg.ConsumerAssignors {
		if votes[name] > best {
			cs.assignor, best = name, votes[name]
		}
	}
	target := assignors[cs.assignor](members, resolved)
	for _, id := range ids {
		cs.members[id].target = target[id]
	}
}

// reconcile moves m toward its target: Kafka's CurrentAssignmentBuilder.
// owned is what the member says it owns (nil: not said).
func (c *Coordinator) reconcile(g *group, m *consumerMember, owned assignment, now int64) {
	if m.epoch == staticLeftEpoch {
		return
	}
	if m.state == memberUnrevoked {
		if owned == nil || owned.overlaps(m.pendingRevocation) {
			return // still revoking
		}
		g.consumer.release(m, m.pendingRevocation)
		m.pendingRevocation = nil
		m.state = memberStable
		c.computeNext(g, m, owned, now)
		return
	}
	if m.state == memberStable && m.epoch == g.consumer.targetEpoch {
		return
	}
	c.computeNext(g, m, owned, now)
}

// computeNext gives m the next step toward its target. If it must revoke
// partitions it still owns, that comes first, at its current epoch; else it
// moves to the target epoch with every target partition that is free.
func (c *Coordinator) computeNext(g *group, m *consumerMember, owned assignment, now int64) {
	cs := g.consumer
	target := m.target
	keep := m.assigned.intersect(target)
	revoke := m.assigned.minus(target)
	if len(revoke) > 0 && (owned == nil || owned.overlaps(revoke)) {
		m.assigned = keep
		m.pendingRevocation = revoke
		m.state = memberUnrevoked
		c.timers.schedule(m.revocation, now+int64(max(m.rebalanceTimeoutMs, 1)))
		return
	}
	cs.release(m, revoke)
	next := keep
	unreleased := false
	for _, t := range target.sortedTopics() {
		for _, p := range target[t] {
			if next.has(t, p) {
				continue
			}
			if o := cs.ownerOf(t, p); o == "" || o == m.id {
				next.add(t, p)
			} else {
				unreleased = true
			}
		}
	}
	cs.claim(m, next)
	m.assigned = next
	m.pendingRevocation = nil
	if m.epoch != cs.targetEpoch {
		m.previousEpoch, m.epoch = m.epoch, cs.targetEpoch
	}
	m.state = memberStable
	if unreleased {
		m.state = memberUnreleased
	}
	c.timers.cancel(m.revocation)
}

// SetTopics gives the coordinator the cluster's topics. KIP-848 groups
// whose subscribed topics changed get a new epoch (and target), and the
// committed offsets of topics that went away are deleted, as Kafka does.
func (c *Coordinator) SetTopics(now int64, topics []TopicInfo) {
	byName := make(map[string]TopicInfo, len(topics))
	byID := make(map[TopicID]TopicInfo, len(topics))
	for _, t := range topics {
		byName[t.Name] = t
		byID[t.ID] = t
	}
	if c.topics != nil && len(byName) == len(c.topics) {
		same := true
		for name, t := range c.topics {
			if byName[name] != t {
				same = false
				break
			}
		}
		if same {
			return
		}
	}
	var gone []string
	for name, old := range c.topics {
		if t, ok := byName[name]; !ok || t.ID != old.ID {
			gone = append(gone, name)
		}
	}
	sort.Strings(gone)
	c.topics, c.topicsByID = byName, byID
	c.topicsVersion++
	for _, id := range c.sortedGroupIDs() {
		g := c.groups[id]
		if c.partitions[g.partition] != active {
			continue
		}
		for _, topic := range gone {
			for _, p := range sortedPartitions(g.offsets[topic]) {
				c.tombstoneOffset(g, topic, p)
			}
		}
		if g.kind == kindConsumer && len(g.consumer.members) > 0 && c.subscriptionMetadataChanged(g.consumer) {
			c.bumpEpoch(g, now)
		}
		c.maybeDrop(g)
	}
}

func (c *Coordinator) subscriptionMetadataChanged(cs *consumerGroup) bool {
	now := make(map[string]bool)
	for _, m := range cs.members {
		for _, t := range c.resolve(cs, m) {
			now[t] = true
			if cs.resolved[t] != c.topics[t] {
				return true
			}
		}
	}
	return len(now) != len(cs.resolved)
}

func sortedPartitions[V any](ps map[int32]V) []int32 {
	out := make([]int32, 0, len(ps))
	for p := range ps {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// ConsumerGroupDescribe handles a ConsumerGroupDescribe for KIP-848 groups.
func (c *Coordinator) ConsumerGroupDescribe(req *kmsg.ConsumerGroupDescribeRequest) *kmsg.ConsumerGroupDescribeResponse {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	for _, id := range req.Groups {
		dg := kmsg.NewConsumerGroupDescribeResponseGroup()
		dg.Group = id
		dg.AuthorizedOperations = -2147483648
		if code := c.coordinatorError(id); code != 0 {
			dg.ErrorCode = code
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		g := c.groups[id]
		if g == nil || g.kind != kindConsumer {
			dg.ErrorCode = kerr.GroupIDNotFound.Code
			msg := "group " + id + " not found"
			if g != nil {
				msg = "group " + id + " is not a consumer group"
			}
			dg.ErrorMessage = &msg
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		cs := g.consumer
		dg.State = cs.stateName()
		dg.Epoch = cs.epoch
		dg.AssignmentEpoch = cs.targetEpoch
		dg.AssignorName = cs.assignor
		for _, mid := range sortedKeys(cs.members) {
			m := cs.members[mid]
			dm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
			dm.MemberID, dm.InstanceID, dm.RackID = m.id, m.instanceID, m.rackID
			dm.MemberEpoch = m.epoch
			dm.ClientID, dm.ClientHost = m.clientID, m.clientHost
			dm.SubscribedTopics = slices.Clone(m.topicNames)
			if m.regex != "" {
				dm.SubscribedTopicRegex = kmsg.StringPtr(m.regex)
			}
			dm.Assignment = m.assigned.toDescribe(c.topicsByID)
			dm.TargetAssignment = m.target.toDescribe(c.topicsByID)
			dm.MemberType = 1 // a KIP-848 (consumer protocol) member
			dg.Members = append(dg.Members, dm)
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}
