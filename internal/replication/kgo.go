package replication

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// KgoClient is a LeaderClient over franz-go: requests go to one broker of
// the client's cluster by node id (the client learns its address from
// Metadata, seeded with any broker of the cluster).
type KgoClient struct {
	cl     *kgo.Client
	leader int32
}

// NewKgoClient returns a LeaderClient sending to node leader through cl.
// The caller owns cl (and closes it).
func NewKgoClient(cl *kgo.Client, leader int32) *KgoClient {
	return &KgoClient{cl: cl, leader: leader}
}

// fetchByName caps a Fetch at v12, the last version that names topics:
// used when some partition's topic id is not known.
type fetchByName struct{ *kmsg.FetchRequest }

func (fetchByName) MaxVersion() int16 { return 12 }

// Fetch sends req; topics without an id keep it at v12 (names).
func (c *KgoClient) Fetch(ctx context.Context, req *kmsg.FetchRequest) (*kmsg.FetchResponse, error) {
	var r kmsg.Request = req
	for _, t := range req.Topics {
		if t.TopicID == ([16]byte{}) {
			r = fetchByName{req}
			break
		}
	}
	resp, err := c.cl.Broker(int(c.leader)).Request(ctx, r)
	if err != nil {
		return nil, err
	}
	fr, ok := resp.(*kmsg.FetchResponse)
	if !ok {
		return nil, fmt.Errorf("replication: Fetch answered with %T", resp)
	}
	return fr, nil
}

// OffsetForLeaderEpoch sends req to the leader.
func (c *KgoClient) OffsetForLeaderEpoch(ctx context.Context, req *kmsg.OffsetForLeaderEpochRequest) (*kmsg.OffsetForLeaderEpochResponse, error) {
	resp, err := c.cl.Broker(int(c.leader)).Request(ctx, req)
	if err != nil {
		return nil, err
	}
	r, ok := resp.(*kmsg.OffsetForLeaderEpochResponse)
	if !ok {
		return nil, fmt.Errorf("replication: OffsetForLeaderEpoch answered with %T", resp)
	}
	return r, nil
}

// ListOffsets sends req to the leader.
func (c *KgoClient) ListOffsets(ctx context.Context, req *kmsg.ListOffsetsRequest) (*kmsg.ListOffsetsResponse, error) {
	resp, err := c.cl.Broker(int(c.leader)).Request(ctx, req)
	if err != nil {
		return nil, err
	}
	r, ok := resp.(*kmsg.ListOffsetsResponse)
	if !ok {
		return nil, fmt.Errorf("replication: ListOffsets answered with %T", resp)
	}
	return r, nil
}
