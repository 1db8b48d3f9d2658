package broker

import (
	"context"

	"github.com/gregor-log/gregor/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// InitProducerId, v0..v4: hands idempotent producers (franz-go and the Java
// client enable idempotence by default) a new producer id at epoch 0.
//
//   - transactional_id null: always a fresh id, as Kafka does for
//     non-transactional producers; a v3+ request naming its old id and
//     epoch (a producer recovering from a sequence error) also just gets a
//     fresh one.
//   - a transactional id: TRANSACTIONAL_ID_AUTHORIZATION_FAILED until
//     transactions exist. Clients surface it as a clear fatal error rather
//     than retrying, which a COORDINATOR_* code would make them do forever.
//
// v5 (KIP-890 epoch bumps for transactions) is not advertised.
func init() { register(kmsg.InitProducerID, 0, 4, handleInitProducerID) }

func handleInitProducerID(ctx context.Context, b *Broker, req *wire.Request) (any, error) {
	r := req.Body.(*kmsg.InitProducerIDRequest)
	resp := r.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if r.TransactionalID != nil {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp, nil
	}
	if b.clustered() {
		// Unique across the cluster: blocks from the controller.
		id, err := b.clusterProducerID(ctx)
		if err != nil {
			b.log.Warn("allocating a producer id from the controller", "err", err)
			resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
			return resp, nil
		}
		resp.ProducerID, resp.ProducerEpoch = id, 0
		return resp, nil
	}
	ids, err := b.producerIDs()
	if err != nil {
		b.log.Error("producer ids unavailable", "err", err)
		resp.ErrorCode = kerr.KafkaStorageError.Code
		return resp, nil
	}
	id, err := ids.Next()
	if err != nil {
		b.log.Error("allocating a producer id", "err", err)
		resp.ErrorCode = kerr.KafkaStorageError.Code
		return resp, nil
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp, nil
}
