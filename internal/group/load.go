package group

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// BeginLoad starts loading a partition of __consumer_offsets: its groups
// answer COORDINATOR_LOAD_IN_PROGRESS until EndLoad. Groups already held
// for the partition are dropped first: the log is the truth.
func (c *Coordinator) BeginLoad(partition int32) {
	c.checkPartition(partition)
	c.dropPartition(partition, kerr.CoordinatorLoadInProgress.Code)
	c.partitions[partition] = loading
}

// Replay applies one record of a loading partition, in log order: value
// nil is a tombstone. A record that does not decode is skipped with an
// error (the caller logs it); it never stops the load.
func (c *Coordinator) Replay(partition int32, key, value []byte) error {
	c.checkPartition(partition)
	if c.partitions[partition] != loading {
		return fmt.Errorf("group: replay into partition %d, which is not loading", partition)
	}
	k, err := decodeKey(key)
	if err != nil {
		return err
	}
	switch k.kind {
	case keyOffset:
		if value == nil {
			if g := c.groups[k.group]; g != nil {
				g.deleteOffset(k.topic, k.partition)
			}
			return nil
		}
		o, err := decodeOffsetValue(value)
		if err != nil {
			return err
		}
		c.loadingGroup(k.group, partition).setOffset(k.topic, k.partition, o)
	case keyGroup:
		if value == nil {
			if g := c.groups[k.group]; g != nil && g.kind == kindClassic {
				g.classic.init(c, g, g.classic.stateTimeMs)
				g.persisted = false
			}
			return nil
		}
		v, err := decodeGroupValue(value)
		if err != nil {
			return err
		}
		c.restoreClassic(c.loadingGroup(k.group, partition), v)
	}
	return nil
}

// loadingGroup returns the group, creating it during a load. MaxGroups is
// not applied: these groups were admitted before.
func (c *Coordinator) loadingGroup(id string, partition int32) *group {
	g := c.groups[id]
	if g == nil {
		g = &group{id: id, partition: partition, kind: kindClassic}
		g.classic.init(c, g, 0)
		c.groups[id] = g
	}
	return g
}

// restoreClassic sets a classic group from its metadata record. A group
// with members comes back Stable, as in Kafka: its members go on
// heartbeating, and their sessions start again at EndLoad.
func (c *Coordinator) restoreClassic(g *group, v *groupValue) {
	cg := &g.classic
	cg.init(c, g, v.stateTimeMs)
	g.persisted = true
	cg.protocolType = v.protocolType
	cg.generation = v.generation
	cg.protocol = v.protocol
	for _, mv := range v.members {
		m := &classicMember{
			id:                 mv.id,
			instanceID:         mv.instanceID,
			clientID:           mv.clientID,
			clientHost:         mv.clientHost,
			sessionTimeoutMs:   mv.sessionTimeoutMs,
			rebalanceTimeoutMs: mv.rebalanceTimeoutMs,
			protocols:          []protocol{{name: v.protocol, metadata: mv.subscription}},
			assignment:         mv.assignment,
		}
		m.session = newTimer(func(now int64) { c.onSessionTimeout(g, m, now) })
		cg.members[m.id] = m
		cg.addSupport(m, +1)
		if m.instanceID != nil {
			cg.instances[*m.instanceID] = m.id
		}
	}
	if _, ok := cg.members[v.leader]; ok {
		cg.leader = v.leader
	}
	if len(cg.members) > 0 {
		cg.state = stateStable
	}
}

// EndLoad ends the load of a partition: its groups are served from now,
// members' sessions start, and groups with nothing left are dropped.
func (c *Coordinator) EndLoad(now int64, partition int32) {
	c.checkPartition(partition)
	if c.partitions[partition] != loading {
		return
	}
	c.partitions[partition] = active
	for _, id := range c.sortedGroupIDs() {
		g := c.groups[id]
		if g.partition != partition {
			continue
		}
		for _, m := range g.classic.members {
			c.resetSession(m, now)
		}
		c.maybeDrop(g)
	}
}

// Unload forgets a partition's groups (this node no longer leads it).
// Parked requests are answered NOT_COORDINATOR: their clients look for the
// new coordinator.
func (c *Coordinator) Unload(partition int32) {
	c.checkPartition(partition)
	c.dropPartition(partition, kerr.NotCoordinator.Code)
	c.partitions[partition] = notCoordinator
}

func (c *Coordinator) dropPartition(partition int32, code int16) {
	for _, id := range c.sortedGroupIDs() {
		g := c.groups[id]
		if g.partition != partition {
			continue
		}
		for _, mid := range sortedKeys(g.classic.members) {
			m := g.classic.members[mid]
			if m.join.active {
				c.replyJoinError(m, code)
			}
			if m.sync.active {
				c.replySyncError(m, code)
			}
		}
		g.classic.stopTimers(c)
		if g.consumer != nil {
			g.consumer.stopTimers(c)
		}
		delete(c.groups, id)
	}
}

func (c *Coordinator) checkPartition(p int32) {
	if p < 0 || int(p) >= len(c.partitions) {
		panic(fmt.Sprintf("group: __consumer_offsets partition %d out of range [0, %d)", p, len(c.partitions)))
	}
}
