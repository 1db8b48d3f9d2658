package wire

import (
	"context"
	"net"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Request is one decoded request, as handed to the Handler.
type Request struct {
	Key           int16
	Version       int16
	CorrelationID int32
	ClientID      *string
	Body          kmsg.Request // decoded at Version
	ConnID        uint64       // unique per connection, for logs and fetch sessions
	Remote        net.Addr
}

// Handler answers requests. The answer is a kmsg.Response (encoded by the
// connection at the request's version), a *Spliced body, or nil to send
// nothing (acks=0 produce). An error closes the connection: it is for
// requests that cannot be answered at all, not for Kafka error codes, which
// belong inside the response.
type Handler interface {
	Handle(ctx context.Context, req *Request) (any, error)
}
