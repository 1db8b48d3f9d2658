package broker

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gregor-log/gregor/internal/metadata"
	"github.com/gregor-log/gregor/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AllocateProducerIds v0 (KIP-730): a broker takes a block of producer ids
// from the active controller, which records it in the metadata log
// (metadata.Controller.AllocateProducerIDs). Registered only in a cluster.
//
// Why: every broker hands out producer ids (InitProducerId), and two
// producers with the same id writing to one partition would have each
// other's batches taken for duplicates, acknowledged and dropped. A single
// node has one allocator and needs none of this.
func init() { registerClusterAPI(kmsg.AllocateProducerIDs, 0, 0, handleAllocateProducerIDs) }

func handleAllocateProducerIDs(_ context.Context, b *Broker, req *wire.Request) (any, error) {
	r := req.Body.(*kmsg.AllocateProducerIDsRequest)
	resp := r.ResponseKind().(*kmsg.AllocateProducerIDsResponse)
	err := b.ctlDo(func(c *metadata.Controller, _ time.Time) ([]metadata.Record, error) {
		block, recs, err := c.AllocateProducerIDs(r.BrokerID, r.BrokerEpoch)
		resp.ProducerIDStart, resp.ProducerIDLen = block.Start, block.Len
		return recs, err
	})
	if err != nil {
		resp.ErrorCode, resp.ProducerIDStart, resp.ProducerIDLen = errorCode(err), -1, 0
	}
	return resp, nil
}

// producerIDBlock is the block of producer ids this broker hands out,
// ids next to end-1 left. Guarded by its mutex, held while a new block
// is fetched (InitProducerId is rare: once per producer).
type producerIDBlock struct {
	sync.Mutex
	next, end int64
}

// clusterProducerID returns a producer id unique in the cluster, taking a
// new block from the controller when this one is used up.
func (b *Broker) clusterProducerID(ctx context.Context) (int64, error) {
	pb := &b.cluster.producerIDs
	pb.Lock()
	defer pb.Unlock()
	if pb.next >= pb.end {
		start, n, err := b.allocateProducerIDs(ctx)
		if err != nil {
			return -1, err
		}
		pb.next, pb.end = start, start+int64(n)
	}
	id := pb.next
	pb.next++
	return id, nil
}

func (b *Broker) allocateProducerIDs(ctx context.Context) (int64, int32, error) {
	epoch := b.cluster.brokerEpoch.Load()
	if epoch == 0 {
		return 0, 0, fmt.Errorf("%w: this broker is not registered yet", errNotController)
	}
	if b.cluster.quorum.IsLeader() {
		var block metadata.ProducerIDBlock
		err := b.ctlDo(func(c *metadata.Controller, _ time.Time) ([]metadata.Record, error) {
			blk, recs, err := c.AllocateProducerIDs(b.nodeID(), epoch)
			block = blk
			return recs, err
		})
		return block.Start, block.Len, err
	}
	req := kmsg.NewPtrAllocateProducerIDsRequest()
	req.BrokerID, req.BrokerEpoch = b.nodeID(), epoch
	resp, err := controllerRequest[*kmsg.AllocateProducerIDsResponse](ctx, b, req)
	if err != nil {
		return 0, 0, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return 0, 0, err
	}
	if resp.ProducerIDLen <= 0 || resp.ProducerIDStart < 0 {
		return 0, 0, fmt.Errorf("broker: controller gave an empty producer id block")
	}
	return resp.ProducerIDStart, resp.ProducerIDLen, nil
}
