package group

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// offset is one committed offset.
type offset struct {
	offset      int64
	leaderEpoch int32 // -1 when the client did not say
	metadata    string
	commitMs    int64
	// expireMs is the explicit expiry of OffsetCommit v1-v4 clients that
	// asked for a retention time; -1 means the group's rules apply.
	expireMs int64
}

func (g *group) setOffset(topic string, partition int32, o *offset) {
	if g.offsets == nil {
		g.offsets = make(map[string]map[int32]*offset)
	}
	ps := g.offsets[topic]
	if ps == nil {
		ps = make(map[int32]*offset)
		g.offsets[topic] = ps
	}
	if _, ok := ps[partition]; !ok {
		g.numOffsets++
	}
	ps[partition] = o
}

// deleteOffset removes one offset and reports whether there was one.
func (g *group) deleteOffset(topic string, partition int32) bool {
	ps := g.offsets[topic]
	if _, ok := ps[partition]; !ok {
		return false
	}
	delete(ps, partition)
	g.numOffsets--
	if len(ps) == 0 {
		delete(g.offsets, topic)
	}
	return true
}

// tombstoneOffset deletes an offset and writes its tombstone.
func (c *Coordinator) tombstoneOffset(g *group, topic string, partition int32) {
	if g.deleteOffset(topic, partition) {
		c.emit(Record{Partition: g.partition, Key: encodeOffsetKey(g.id, topic, partition)})
	}
}

// topicPartitions returns how many partitions a topic has; ok false when the
// topic does not exist. Before the first SetTopics every topic is taken to
// exist with any number of partitions.
func (c *Coordinator) topicPartitions(name string) (int32, bool) {
	if c.topics == nil {
		return 1<<31 - 1, true
	}
	t, ok := c.topics[name]
	return t.Partitions, ok
}

// OffsetCommit handles an OffsetCommit. The new offsets are in memory when
// it returns; the caller answers once the records from Ready are durable.
func (c *Coordinator) OffsetCommit(now int64, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetCommitResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	g, code := c.validateCommit(now, req)
	if code != 0 {
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				resp.Topics[i].Partitions[j].ErrorCode = code
			}
		}
		return resp
	}
	defer c.maybeDrop(g)
	for i, rt := range req.Topics {
		nparts, known := c.topicPartitions(rt.Topic)
		for j, rp := range rt.Partitions {
			sp := &resp.Topics[i].Partitions[j]
			var metadata string
			if rp.Metadata != nil {
				metadata = *rp.Metadata
			}
			switch {
			case !known || rp.Partition < 0 || rp.Partition >= nparts || len(rt.Topic) > maxStringLen:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				continue
			case len(metadata) > c.cfg.OffsetMetadataMaxBytes:
				sp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
				continue
			}
			o := &offset{offset: rp.Offset, leaderEpoch: rp.LeaderEpoch, metadata: metadata, commitMs: now, expireMs: -1}
			if req.Version == 1 && rp.Timestamp >= 0 {
				o.commitMs = rp.Timestamp
			}
			if req.Version >= 2 && req.Version <= 4 && req.RetentionTimeMillis >= 0 {
				o.expireMs = now + req.RetentionTimeMillis
			}
			g.setOffset(rt.Topic, rp.Partition, o)
			c.emit(Record{Partition: g.partition, Key: encodeOffsetKey(g.id, rt.Topic, rp.Partition), Value: encodeOffsetValue(o)})
		}
	}
	return resp
}

// validateCommit checks who may commit: a member of the current
// generation (classic) or epoch (KIP-848), or anyone (generation -1, no
// member id) while the group has no members. It creates the group for such
// a "simple" commit.
func (c *Coordinator) validateCommit(now int64, req *kmsg.OffsetCommitRequest) (*group, int16) {
	// An empty group id is allowed for commits (Kafka keeps that for old
	// clients); one too long for the record schema is not.
	if len(req.Group) > maxStringLen {
		return nil, kerr.InvalidGroupID.Code
	}
	if code := c.coordinatorError(req.Group); code != 0 {
		return nil, code
	}
	g := c.groups[req.Group]
	if g == nil {
		if req.Generation >= 0 {
			// Kafka answers GROUP_ID_NOT_FOUND from v9 and
			// ILLEGAL_GENERATION before, which older clients understand.
			if req.Version >= 9 {
				return nil, kerr.GroupIDNotFound.Code
			}
			return nil, kerr.IllegalGeneration.Code
		}
		if g = c.newGroup(req.Group, kindClassic, now); g == nil {
			return nil, kerr.CoordinatorNotAvailable.Code
		}
		return g, 0
	}
	if g.kind == kindConsumer {
		return g, c.validateConsumerCommit(g, req)
	}
	cg := &g.classic
	if req.Generation < 0 && req.MemberID == "" && req.InstanceID == nil {
		if len(cg.members) == 0 {
			return g, 0
		}
		return g, kerr.UnknownMemberID.Code
	}
	m, code := cg.validateMember(req.MemberID, req.InstanceID)
	if code != 0 {
		return g, code
	}
	if req.Generation != cg.generation {
		return g, kerr.IllegalGeneration.Code
	}
	if cg.state == stateCompletingRebalance {
		// The member has not had its assignment yet; it must not commit
		// for partitions it may not own.
		return g, kerr.RebalanceInProgress.Code
	}
	c.resetSession(m, now)
	return g, 0
}

// validateConsumerCommit is validateCommit for a KIP-848 group, where the
// generation field carries the member epoch.
func (c *Coordinator) validateConsumerCommit(g *group, req *kmsg.OffsetCommitRequest) int16 {
	cs := g.consumer
	if req.Generation < 0 && len(cs.members) == 0 {
		return 0
	}
	m := cs.members[req.MemberID]
	if m == nil {
		return kerr.UnknownMemberID.Code
	}
	if req.Version < 9 {
		return kerr.UnsupportedVersion.Code // Kafka: KIP-848 members commit with v9+
	}
	if req.Generation == m.epoch {
		return 0
	}
	// A commit made just before a heartbeat moved the member to a newer
	// epoch is still good for the partitions the member owns: accept it
	// (Kafka 4.3 relaxed its check the same way) rather than make the
	// client fail a commit it cannot retry by itself.
	if req.Generation > 0 && req.Generation < m.epoch {
		for _, rt := range req.Topics {
			t, ok := c.topics[rt.Topic]
			if !ok {
				return kerr.StaleMemberEpoch.Code
			}
			for _, rp := range rt.Partitions {
				if !m.assigned.has(t.ID, rp.Partition) {
					return kerr.StaleMemberEpoch.Code
				}
			}
		}
		return 0
	}
	return kerr.StaleMemberEpoch.Code
}

// fetchTopic is a requested topic: nil partitions are none, and a nil
// []fetchTopic is every committed offset of the group.
type fetchTopic struct {
	name       string
	partitions []int32
}

type fetchedPartition struct {
	partition   int32
	offset      int64
	leaderEpoch int32
	metadata    string
	code        int16
}

type fetchedTopic struct {
	name       string
	partitions []fetchedPartition
}

// OffsetFetch handles an OffsetFetch: one group (v0-v7) or several (v8+).
// A group or partition without a committed offset answers offset -1.
// RequireStable has nothing to wait for: transactional offset commits,
// the only kind that can be pending, are not supported.
func (c *Coordinator) OffsetFetch(req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			var topics []fetchTopic
			if rg.Topics != nil {
				topics = make([]fetchTopic, 0, len(rg.Topics))
				for _, rt := range rg.Topics {
					topics = append(topics, fetchTopic{name: rt.Topic, partitions: rt.Partitions})
				}
			}
			res, code := c.fetchGroup(rg.Group, topics, rg.Topics == nil, rg.MemberID, rg.MemberEpoch)
			sg := kmsg.NewOffsetFetchResponseGroup()
			sg.Group, sg.ErrorCode = rg.Group, code
			for _, ft := range res {
				st := kmsg.NewOffsetFetchResponseGroupTopic()
				st.Topic = ft.name
				for _, fp := range ft.partitions {
					sp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					sp.Partition, sp.Offset, sp.LeaderEpoch = fp.partition, fp.offset, fp.leaderEpoch
					sp.Metadata, sp.ErrorCode = kmsg.StringPtr(fp.metadata), fp.code
					st.Partitions = append(st.Partitions, sp)
				}
				sg.Topics = append(sg.Topics, st)
			}
			resp.Groups = append(resp.Groups, sg)
		}
		return resp
	}
	var topics []fetchTopic
	all := req.Topics == nil && req.Version >= 2 // v0-v1 cannot ask for every topic
	if !all {
		topics = make([]fetchTopic, 0, len(req.Topics))
		for _, rt := range req.Topics {
			topics = append(topics, fetchTopic{name: rt.Topic, partitions: rt.Partitions})
		}
	}
	res, code := c.fetchGroup(req.Group, topics, all, nil, -1)
	if req.Version >= 2 {
		resp.ErrorCode = code
	} else if code != 0 {
		// v0-v1 have no group-level error: every partition carries it.
		res = res[:0]
		for _, t := range topics {
			ft := fetchedTopic{name: t.name}
			for _, p := range t.partitions {
				ft.partitions = append(ft.partitions, fetchedPartition{partition: p, offset: -1, leaderEpoch: -1, code: code})
			}
			res = append(res, ft)
		}
	}
	for _, ft := range res {
		st := kmsg.NewOffsetFetchResponseTopic()
		st.Topic = ft.name
		for _, fp := range ft.partitions {
			sp := kmsg.NewOffsetFetchResponseTopicPartition()
			sp.Partition, sp.Offset, sp.LeaderEpoch = fp.partition, fp.offset, fp.leaderEpoch
			sp.Metadata, sp.ErrorCode = kmsg.StringPtr(fp.metadata), fp.code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// fetchGroup reads one group's offsets: those asked for, or every one when
// all is set. memberID and memberEpoch are OffsetFetch v9's, checked for
// KIP-848 groups.
func (c *Coordinator) fetchGroup(id string, topics []fetchTopic, all bool, memberID *string, memberEpoch int32) ([]fetchedTopic, int16) {
	if code := c.coordinatorError(id); code != 0 {
		return nil, code
	}
	g := c.groups[id]
	if g != nil && g.kind == kindConsumer && (memberID != nil || memberEpoch >= 0) {
		var m *consumerMember
		if memberID != nil {
			m = g.consumer.members[*memberID]
		}
		if m == nil {
			return nil, kerr.UnknownMemberID.Code
		}
		// The previous epoch is accepted too: the member may fetch with
		// it while the heartbeat that moved it on is still in flight.
		if memberEpoch != m.epoch && memberEpoch != m.previousEpoch {
			return nil, kerr.StaleMemberEpoch.Code
		}
	}
	var out []fetchedTopic
	if all {
		if g == nil {
			return []fetchedTopic{}, 0
		}
		names := sortedKeys(g.offsets)
		out = make([]fetchedTopic, 0, len(names))
		for _, name := range names {
			ps := g.offsets[name]
			parts := make([]int32, 0, len(ps))
			for p := range ps {
				parts = append(parts, p)
			}
			sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
			ft := fetchedTopic{name: name}
			for _, p := range parts {
				ft.partitions = append(ft.partitions, fetched(ps[p], p))
			}
			out = append(out, ft)
		}
		return out, 0
	}
	out = make([]fetchedTopic, 0, len(topics))
	for _, t := range topics {
		ft := fetchedTopic{name: t.name}
		for _, p := range t.partitions {
			var o *offset
			if g != nil {
				o = g.offsets[t.name][p]
			}
			ft.partitions = append(ft.partitions, fetched(o, p))
		}
		out = append(out, ft)
	}
	return out, 0
}

func fetched(o *offset, p int32) fetchedPartition {
	if o == nil {
		return fetchedPartition{partition: p, offset: -1, leaderEpoch: -1}
	}
	return fetchedPartition{partition: p, offset: o.offset, leaderEpoch: o.leaderEpoch, metadata: o.metadata}
}

// OffsetDelete handles an OffsetDelete: offsets of topics the group does
// not consume any more may go; those it still subscribes to answer
// GROUP_SUBSCRIBED_TO_TOPIC.
func (c *Coordinator) OffsetDelete(req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse {
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	code := c.coordinatorError(req.Group)
	g := c.groups[req.Group]
	if code == 0 && g == nil {
		code = kerr.GroupIDNotFound.Code
	}
	if code != 0 {
		resp.ErrorCode = code
		return resp
	}
	var subscribed func(topic string) bool
	if g.kind == kindConsumer {
		topics := g.consumer.subscribedTopicNames()
		subscribed = func(t string) bool { return topics[t] }
	} else if len(g.classic.members) > 0 {
		if g.classic.protocolType != consumerProtocolType {
			resp.ErrorCode = kerr.NonEmptyGroup.Code
			return resp
		}
		topics, ok := g.classic.subscriptions()
		subscribed = func(t string) bool { return !ok || topics[t] }
	} else {
		subscribed = func(string) bool { return false }
	}
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetDeleteResponseTopic()
		st.Topic = rt.Topic
		inUse := subscribed(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetDeleteResponseTopicPartition()
			sp.Partition = rp.Partition
			if inUse {
				sp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			} else {
				c.tombstoneOffset(g, rt.Topic, rp.Partition)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	c.maybeDrop(g)
	return resp
}

// expireOffsets drops offsets past their retention, by Kafka's rules
// (KIP-211): offsets of a group with members never expire, except those of
// topics it no longer subscribes to; once the group is empty, all of them
// expire offsets.retention.minutes after it became empty; offsets of a
// group that never had members expire that long after their commit. An
// explicit expiry from an old client wins.
func (c *Coordinator) expireOffsets(now int64) {
	retention := c.cfg.OffsetsRetentionMs
	for _, id := range c.sortedGroupIDs() {
		g := c.groups[id]
		if g.numOffsets == 0 || c.partitions[g.partition] != active {
			continue
		}
		var expired func(topic string, o *offset) bool
		switch {
		case g.kind == kindConsumer && len(g.consumer.members) == 0:
			since := g.consumer.emptySinceMs
			expired = func(string, *offset) bool { return since+retention <= now }
		case g.kind == kindConsumer:
			topics := g.consumer.subscribedTopicNames()
			expired = func(t string, o *offset) bool { return !topics[t] && o.commitMs+retention <= now }
		case g.classic.state == stateEmpty && g.classic.protocolType != "":
			since := g.classic.stateTimeMs
			expired = func(string, *offset) bool { return since+retention <= now }
		case g.classic.state == stateEmpty:
			expired = func(_ string, o *offset) bool { return o.commitMs+retention <= now }
		default:
			topics, ok := g.classic.subscriptions()
			expired = func(t string, o *offset) bool { return ok && !topics[t] && o.commitMs+retention <= now }
		}
		for _, topic := range sortedKeys(g.offsets) {
			ps := g.offsets[topic]
			parts := make([]int32, 0, len(ps))
			for p, o := range ps {
				if (o.expireMs >= 0 && o.expireMs <= now) || (o.expireMs < 0 && expired(topic, o)) {
					parts = append(parts, p)
				}
			}
			sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
			for _, p := range parts {
				c.tombstoneOffset(g, topic, p)
			}
		}
		c.maybeDrop(g)
	}
}
