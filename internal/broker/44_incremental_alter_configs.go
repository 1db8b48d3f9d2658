package broker

import (
	"context"
	"slices"
	"strings"

	"github.com/gregor-log/gregor/internal/config"
	"github.com/gregor-log/gregor/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// IncrementalAlterConfigs v0-v1 (KIP-339): SET, DELETE, APPEND and
// SUBTRACT on a topic's overrides, or on the dynamic configs of a broker
// (resource "<node.id>") or of the whole cluster (resource ""): the
// defaults of topic configs (configs.go); other broker configs are static
// and refused.
func init() { register(kmsg.IncrementalAlterConfigs, 0, 1, handleIncrementalAlterConfigs) }

func handleIncrementalAlterConfigs(_ context.Context, b *Broker, req *wire.Request) (any, error) {
	r := req.Body.(*kmsg.IncrementalAlterConfigsRequest)
	resp := r.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	dups := duplicateResources(len(r.Resources), func(i int) (kmsg.ConfigResourceType, string) {
		return r.Resources[i].ResourceType, r.Resources[i].ResourceName
	})
	for i, res := range r.Resources {
		rr := kmsg.NewIncrementalAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = res.ResourceType, res.ResourceName
		var aerr *apiError
		switch {
		case dups[i]:
			aerr = errorf(kerr.InvalidRequest, "Resource %s is given more than once.", res.ResourceName)
		case res.ResourceType == kmsg.ConfigResourceTypeTopic:
			aerr = b.incrementalAlterTopic(res, r.ValidateOnly)
		case res.ResourceType == kmsg.ConfigResourceTypeBroker:
			aerr = b.incrementalAlterBroker(res, r.ValidateOnly)
		default:
			aerr = errorf(kerr.InvalidRequest, "Resource type %v is not supported.", res.ResourceType)
		}
		rr.ErrorCode, rr.ErrorMessage = aerr.code(), aerr.message()
		resp.Resources = append(resp.Resources, rr)
	}
	return resp, nil
}

func (b *Broker) incrementalAlterTopic(res kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) *apiError {
	seen := map[string]bool{}
	for _, c := range res.Configs {
		if seen[c.Name] {
			return errorf(kerr.InvalidRequest, "Error due to duplicate config keys: %s.", c.Name)
		}
		seen[c.Name] = true
	}
	b.controlMu.Lock()
	defer b.controlMu.Unlock()
	return b.setTopicConfigsLocked(res.ResourceName, func(cur map[string]string) (map[string]string, *apiError) {
		if cur == nil {
			cur = map[string]string{}
		}
		for _, c := range res.Configs {
			if aerr := b.applyOp(cur, c); aerr != nil {
				return nil, aerr
			}
		}
		return cur, nil
	}, validateOnly)
}

func (b *Broker) incrementalAlterBroker(res kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) *apiError {
	seen := map[string]bool{}
	for _, c := range res.Configs {
		if seen[c.Name] {
			return errorf(kerr.InvalidRequest, "Error due to duplicate config keys: %s.", c.Name)
		}
		seen[c.Name] = true
	}
	b.controlMu.Lock()
	defer b.controlMu.Unlock()
	return b.alterBrokerConfigsLocked(res.ResourceName, func(cur map[string]string) (map[string]string, *apiError) {
		if cur == nil {
			cur = map[string]string{}
		}
		for _, c := range res.Configs {
			if aerr := b.applyBrokerOp(cur, c); aerr != nil {
				return nil, aerr
			}
		}
		return cur, nil
	}, validateOnly)
}

// applyBrokerOp applies one operation to a broker resource's dynamic
// configs cur.
func (b *Broker) applyBrokerOp(cur map[string]string, c kmsg.IncrementalAlterConfigsRequestResourceConfig) *apiError {
	typ, _, ok := config.BrokerKeyInfo(c.Name)
	if !ok {
		return errorf(kerr.InvalidRequest, "Unknown broker config: %s.", c.Name)
	}
	switch c.Op {
	case kmsg.IncrementalAlterConfigOpSet:
		if c.Value == nil {
			return errorf(kerr.InvalidRequest, "Null value not supported for broker config %s.", c.Name)
		}
		cur[c.Name] = *c.Value
	case kmsg.IncrementalAlterConfigOpDelete:
		delete(cur, c.Name)
	case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
		if typ != config.TypeList {
			return errorf(kerr.InvalidConfig, "Config value append or subtract is not allowed for config key %s, which is not a list.", c.Name)
		}
		old, ok := cur[c.Name]
		if !ok {
			old, _, _, _ = b.cfg.BrokerValue(c.Name) // the value in effect
		}
		value := ""
		if c.Value != nil {
			value = *c.Value
		}
		cur[c.Name] = strings.Join(appendOrSubtract(splitItems(old), splitItems(value), c.Op), ",")
	default:
		return errorf(kerr.InvalidRequest, "Unknown config operation %d for %s.", c.Op, c.Name)
	}
	return nil
}

// appendOrSubtract applies an APPEND or SUBTRACT of values to a list.
func appendOrSubtract(items, values []string, op kmsg.IncrementalAlterConfigOp) []string {
	for _, v := range values {
		has := slices.Contains(items, v)
		if op == kmsg.IncrementalAlterConfigOpAppend && !has {
			items = append(items, v)
		} else if op == kmsg.IncrementalAlterConfigOpSubtract && has {
			items = slices.DeleteFunc(items, func(s string) bool { return s == v })
		}
	}
	return items
}

// applyOp applies one operation to the overrides cur.
func (b *Broker) applyOp(cur map[string]string, c kmsg.IncrementalAlterConfigsRequestResourceConfig) *apiError {
	k, ok := config.LookupTopicKey(c.Name)
	if !ok {
		return errorf(kerr.InvalidConfig, "Unknown topic config name: %s", c.Name)
	}
	value := ""
	if c.Value != nil {
		value = *c.Value
	}
	switch c.Op {
	case kmsg.IncrementalAlterConfigOpSet:
		if c.Value == nil {
			return errorf(kerr.InvalidConfig, "Null value not supported for topic config %s.", c.Name)
		}
		cur[c.Name] = value
	case kmsg.IncrementalAlterConfigOpDelete:
		delete(cur, c.Name)
	case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
		if k.Type != config.TypeList {
			return errorf(kerr.InvalidConfig, "Config value append or subtract is not allowed for config key %s, which is not a list.", c.Name)
		}
		// Start from the value in effect (override or default), as Kafka.
		old, _, _, _ := b.cfg.TopicValue(c.Name, cur)
		cur[c.Name] = strings.Join(appendOrSubtract(splitItems(old), splitItems(value), c.Op), ",")
	default:
		return errorf(kerr.InvalidRequest, "Unknown config operation %d for %s.", c.Op, c.Name)
	}
	return nil
}

func splitItems(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
