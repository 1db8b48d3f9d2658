package broker

import (
	"context"

	"github.com/gregor-log/gregor/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AlterConfigs v0-v2: replaces the whole set of a topic's overrides, or of
// a broker resource's dynamic configs (see IncrementalAlterConfigs).
func init() { register(kmsg.AlterConfigs, 0, 2, handleAlterConfigs) }

func handleAlterConfigs(ctx context.Context, b *Broker, req *wire.Request) (any, error) {
	if resp, ok := b.forwardToController(ctx, req); ok {
		return resp, nil // only the controller writes the metadata log
	}
	r := req.Body.(*kmsg.AlterConfigsRequest)
	resp := r.ResponseKind().(*kmsg.AlterConfigsResponse)
	dups := duplicateResources(len(r.Resources), func(i int) (kmsg.ConfigResourceType, string) {
		return r.Resources[i].ResourceType, r.Resources[i].ResourceName
	})
	for i, res := range r.Resources {
		rr := kmsg.NewAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = res.ResourceType, res.ResourceName
		aerr := alterResource(dups[i], res.ResourceType, res.ResourceName,
			func() *apiError { return b.alterTopicConfigs(res, r.ValidateOnly) },
			func() *apiError { return b.alterBrokerConfigs(res, r.ValidateOnly) })
		rr.ErrorCode, rr.ErrorMessage = aerr.code(), aerr.message()
		resp.Resources = append(resp.Resources, rr)
	}
	return resp, nil
}

func (b *Broker) alterTopicConfigs(res kmsg.AlterConfigsRequestResource, validateOnly bool) *apiError {
	want := make(map[string]string, len(res.Configs))
	for _, c := range res.Configs {
		if _, dup := want[c.Name]; dup {
			return errorf(kerr.InvalidRequest, "Config %s is given more than once.", c.Name)
		}
		if c.Value == nil {
			return errorf(kerr.InvalidConfig, "Null value not supported for topic config %s.", c.Name)
		}
		want[c.Name] = *c.Value
	}
	return b.setTopicConfigs(res.ResourceName, want, validateOnly)
}

// alterBrokerConfigs makes a broker resource's dynamic configs exactly
// those given; a null value leaves its config out, as Kafka does.
func (b *Broker) alterBrokerConfigs(res kmsg.AlterConfigsRequestResource, validateOnly bool) *apiError {
	want := make(map[string]string, len(res.Configs))
	for _, c := range res.Configs {
		if _, dup := want[c.Name]; dup {
			return errorf(kerr.InvalidRequest, "Config %s is given more than once.", c.Name)
		}
		if c.Value != nil {
			want[c.Name] = *c.Value
		}
	}
	b.controlMu.Lock()
	defer b.controlMu.Unlock()
	return b.alterBrokerConfigsLocked(res.ResourceName, func(map[string]string) (map[string]string, *apiError) { return want, nil }, validateOnly)
}

// alterResource answers one resource of an AlterConfigs or
// IncrementalAlterConfigs request: a resource named twice is refused,
// a topic goes to alterTopic and a broker resource to alterBroker.
func alterResource(dup bool, typ kmsg.ConfigResourceType, name string, alterTopic, alterBroker func() *apiError) *apiError {
	switch {
	case dup:
		return errorf(kerr.InvalidRequest, "Resource %s is given more than once.", name)
	case typ == kmsg.ConfigResourceTypeTopic:
		return alterTopic()
	case typ == kmsg.ConfigResourceTypeBroker:
		return alterBroker()
	}
	return errorf(kerr.InvalidRequest, "Resource type %v is not supported.", typ)
}

// duplicateResources marks resources named more than once in a request.
func duplicateResources(n int, at func(int) (kmsg.ConfigResourceType, string)) []bool {
	type key struct {
		typ  kmsg.ConfigResourceType
		name string
	}
	count := make(map[key]int, n)
	for i := range n {
		t, name := at(i)
		count[key{t, name}]++
	}
	out := make([]bool, n)
	for i := range n {
		t, name := at(i)
		out[i] = count[key{t, name}] > 1
	}
	return out
}
