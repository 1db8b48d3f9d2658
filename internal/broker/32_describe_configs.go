package broker

import (
	"context"
	"slices"
	"strconv"

	"github.com/gregor-log/gregor/internal/config"
	"github.com/gregor-log/gregor/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeConfigs v0-v4 for TOPIC and BROKER resources: values, sources,
// synonyms (v1+, when asked), types and documentation (v3+).
func init() { register(kmsg.DescribeConfigs, 0, 4, handleDescribeConfigs) }

func handleDescribeConfigs(_ context.Context, b *Broker, req *wire.Request) (any, error) {
	r := req.Body.(*kmsg.DescribeConfigsRequest)
	resp := r.ResponseKind().(*kmsg.DescribeConfigsResponse)
	img := b.store.Image()
	for _, res := range r.Resources {
		rr := kmsg.NewDescribeConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = res.ResourceType, res.ResourceName
		var entries []configEntry
		var aerr *apiError
		switch res.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			if aerr = validateTopicName(res.ResourceName); aerr != nil {
				break
			}
			t, ok := img.Topic(res.ResourceName)
			if !ok {
				aerr = errorf(kerr.UnknownTopicOrPartition, "Topic %s does not exist.", res.ResourceName)
				break
			}
			entries = b.topicConfigEntries(t.Configs)
		case kmsg.ConfigResourceTypeBroker:
			switch aerr = b.checkBrokerResource(res.ResourceName); {
			case aerr != nil:
			case res.ResourceName == "":
				entries = b.clusterDefaultConfigEntries()
			default:
				entries = b.brokerConfigEntries()
			}
		default:
			aerr = errorf(kerr.InvalidRequest, "Resource type %v is not supported.", res.ResourceType)
		}
		if aerr != nil {
			rr.ErrorCode, rr.ErrorMessage = aerr.code(), aerr.message()
			resp.Resources = append(resp.Resources, rr)
			continue
		}
		for _, e := range entries {
			if res.ConfigNames != nil && !slices.Contains(res.ConfigNames, e.name) {
				continue
			}
			rr.Configs = append(rr.Configs, describeEntry(e, r))
		}
		resp.Resources = append(resp.Resources, rr)
	}
	return resp, nil
}

func describeEntry(e configEntry, r *kmsg.DescribeConfigsRequest) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	c.Name, c.Value, c.ReadOnly = e.name, e.value, e.readOnly
	c.Source = kmsg.ConfigSource(e.source)
	c.IsDefault = e.source == config.SourceDefault
	c.ConfigType = kmsg.ConfigType(e.typ)
	if r.IncludeSynonyms {
		for _, s := range e.synonyms {
			cs := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
			cs.Name, cs.Value, cs.Source = s.Name, &s.Value, kmsg.ConfigSource(s.Source)
			c.ConfigSynonyms = append(c.ConfigSynonyms, cs)
		}
	}
	if r.IncludeDocumentation {
		c.Documentation = &e.doc
	}
	return c
}

// checkBrokerResource accepts this broker's node id, or "" (the cluster
// default: the dynamic configs set for every broker).
func (b *Broker) checkBrokerResource(name string) *apiError {
	if name == "" {
		return nil
	}
	id, err := strconv.ParseInt(name, 10, 32)
	if err != nil {
		return errorf(kerr.InvalidRequest, "Broker resource name %q is not a node id.", name)
	}
	if int32(id) != b.nodeID() {
		return errorf(kerr.InvalidRequest, "Unexpected broker id, expected %d but received %d.", b.nodeID(), id)
	}
	return nil
}
