package broker

import (
	"context"

	"github.com/gregor-log/gregor/internal/metadata"
	"github.com/gregor-log/gregor/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteTopics v1-v6 (v6 deletes by topic id too). A topic's data is
// removed before the response is sent.
func init() { register(kmsg.DeleteTopics, 1, 6, handleDeleteTopics) }

func handleDeleteTopics(ctx context.Context, b *Broker, req *wire.Request) (any, error) {
	if resp, ok := b.forwardToController(ctx, req); ok {
		return resp, nil // only the controller writes the metadata log
	}
	r := req.Body.(*kmsg.DeleteTopicsRequest)
	resp := r.ResponseKind().(*kmsg.DeleteTopicsResponse)
	topics := r.Topics
	if r.Version < 6 {
		for _, name := range r.TopicNames {
			t := kmsg.NewDeleteTopicsRequestTopic()
			t.Topic = &name
			topics = append(topics, t)
		}
	}
	for _, t := range topics {
		rt := kmsg.NewDeleteTopicsResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		var aerr *apiError
		switch {
		case t.Topic != nil && t.TopicID != [16]byte{}:
			aerr = errorf(kerr.InvalidRequest, "Give a topic name or a topic id, not both.")
		case t.Topic != nil:
			var name string
			name, rt.TopicID, aerr = b.deleteTopic(*t.Topic, metadata.TopicID{})
			rt.Topic = &name
		case t.TopicID != [16]byte{}:
			var name string
			name, _, aerr = b.deleteTopic("", t.TopicID)
			if name != "" {
				rt.Topic = &name
			}
		default:
			aerr = errorf(kerr.InvalidRequest, "A topic needs a name or an id.")
		}
		rt.ErrorCode, rt.ErrorMessage = aerr.code(), aerr.message()
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}
