package group

import (
	"math"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// stateName is the group's state as ListGroups and DescribeGroups name it.
func (g *group) stateName() string {
	if g.kind == kindConsumer {
		return g.consumer.stateName()
	}
	return g.classic.state.String()
}

func (g *group) protocolType() string {
	if g.kind == kindConsumer {
		return consumerProtocolType
	}
	return g.classic.protocolType
}

// ListGroups handles a ListGroups: every group of the partitions served
// here, filtered by state (v4+) and type (v5+), both case-insensitive.
func (c *Coordinator) ListGroups(req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	for _, l := range c.partitions {
		if l == loading {
			resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
			break
		}
	}
	match := func(filter []string, v string) bool {
		if len(filter) == 0 {
			return true
		}
		for _, f := range filter {
			if strings.EqualFold(f, v) {
				return true
			}
		}
		return false
	}
	for _, id := range c.sortedGroupIDs() {
		g := c.groups[id]
		if c.partitions[g.partition] != active {
			continue
		}
		if !match(req.StatesFilter, g.stateName()) || !match(req.TypesFilter, g.kind.String()) {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group = g.id
		lg.ProtocolType = g.protocolType()
		lg.GroupState = g.stateName()
		lg.GroupType = g.kind.String()
		resp.Groups = append(resp.Groups, lg)
	}
	return resp
}

// DescribeGroups handles a DescribeGroups for classic groups. Member
// metadata and assignments are shown only once the group is Stable, as
// Kafka does: before that they are not settled.
func (c *Coordinator) DescribeGroups(req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range req.Groups {
		dg := kmsg.NewDescribeGroupsResponseGroup()
		dg.Group = id
		dg.AuthorizedOperations = math.MinInt32 // not asked for, or no ACLs: Kafka's "omitted"
		if code := c.coordinatorError(id); code != 0 {
			dg.ErrorCode = code
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		g := c.groups[id]
		if g == nil || g.kind != kindClassic {
			// Kafka 4 says GROUP_ID_NOT_FOUND from v6; older versions
			// describe a group that does not exist as Dead.
			if req.Version >= 6 {
				dg.ErrorCode = kerr.GroupIDNotFound.Code
				msg := "group " + id + " not found"
				if g != nil {
					msg = "group " + id + " is not a classic group"
				}
				dg.ErrorMessage = &msg
			} else {
				dg.State = "Dead"
			}
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		cg := &g.classic
		dg.State = cg.state.String()
		dg.ProtocolType = cg.protocolType
		stable := cg.state == stateStable
		if stable {
			dg.Protocol = cg.protocol
		}
		for _, mid := range sortedKeys(cg.members) {
			m := cg.members[mid]
			dm := kmsg.NewDescribeGroupsResponseGroupMember()
			dm.MemberID, dm.InstanceID = m.id, m.instanceID
			dm.ClientID, dm.ClientHost = m.clientID, m.clientHost
			if stable {
				dm.ProtocolMetadata = m.metadataFor(cg.protocol)
				dm.MemberAssignment = m.assignment
			}
			dg.Members = append(dg.Members, dm)
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

// DeleteGroups handles a DeleteGroups: groups without members are removed
// with their offsets (tombstones for each); others answer NON_EMPTY_GROUP.
func (c *Coordinator) DeleteGroups(req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, id := range req.Groups {
		dg := kmsg.NewDeleteGroupsResponseGroup()
		dg.Group = id
		dg.ErrorCode = c.deleteGroup(id)
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

func (c *Coordinator) deleteGroup(id string) int16 {
	if code := c.coordinatorError(id); code != 0 {
		return code
	}
	g := c.groups[id]
	if g == nil {
		return kerr.GroupIDNotFound.Code
	}
	// Member ids handed out with MEMBER_ID_REQUIRED do not count: their
	// owners may never come back, and Kafka does not count them either.
	if (g.kind == kindConsumer && len(g.consumer.members) > 0) || (g.kind == kindClassic && len(g.classic.members) > 0) {
		return kerr.NonEmptyGroup.Code
	}
	for _, topic := range sortedKeys(g.offsets) {
		parts := make([]int32, 0, len(g.offsets[topic]))
		for p := range g.offsets[topic] {
			parts = append(parts, p)
		}
		sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
		for _, p := range parts {
			c.tombstoneOffset(g, topic, p)
		}
	}
	c.dropGroup(g)
	return 0
}
