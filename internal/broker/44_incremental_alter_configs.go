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

func handleIncrementalAlterConfigs(ctx context.Context, b *Broker, req *wire.Request) (any, error) {
	if resp, ok := b.forwardToController(ctx, req); ok {
		return resp, nil // only the controller writes the metadata log
	}
	r := req.Body.(*kmsg.IncrementalAlterConfigsRequest)
	resp := r.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	dups := duplicateResources(len(r.Resources), func(i int) (kmsg.ConfigResourceType, string) {
		return r.Resources[i].ResourceType, r.Resources[i].ResourceName
	})
	for i, res := range r.Resources {
		rr := kmsg.NewIncrementalAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = res.ResourceType, res.ResourceName
		aerr := alterResource(dups[i], res.ResourceType, res.ResourceName,
			func() *apiError { return b.incrementalAlterTopic(res, r.ValidateOnly) },
			func() *apiError { return b.incrementalAlterBroker(res, r.ValidateOnly) })
		rr.ErrorCode, rr.ErrorMessage = aerr.code(), aerr.message()
		resp.Resources = append(resp.Resources, rr)
	}
	return resp, nil
}

func (b *Broker) incrementalAlterTopic(res kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) *apiError {
	if aerr := duplicateConfigKey(res.Configs); aerr != nil {
		return aerr
	}
	b.controlMu.Lock()
	defer b.controlMu.Unlock()
	return b.setTopicConfigsLocked(res.ResourceName, applyOps(res.Configs, b.applyOp), validateOnly)
}

func (b *Broker) incrementalAlterBroker(res kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) *apiError {
	if aerr := duplicateConfigKey(res.Configs); aerr != nil {
		return aerr
	}
	b.controlMu.Lock()
	defer b.controlMu.Unlock()
	return b.alterBrokerConfigsLocked(res.ResourceName, applyOps(res.Configs, b.applyBrokerOp), validateOnly)
}

// duplicateConfigKey refuses a resource that names a config twice: the
// order of two operations on one key would be ambiguous.
func duplicateConfigKey(configs []kmsg.IncrementalAlterConfigsRequestResourceConfig) *apiError {
	seen := make(map[string]bool, len(configs))
	for _, c := range configs {
		if seen[c.Name] {
			return errorf(kerr.InvalidRequest, "Error due to duplicate config keys: %s.", c.Name)
		}
		seen[c.Name] = true
	}
	return nil
}

// applyOps returns the change that applies each operation of configs, in
// order, with apply to the current configs (nil when there are none yet).
func applyOps(configs []kmsg.IncrementalAlterConfigsRequestResourceConfig, apply func(map[string]string, kmsg.IncrementalAlterConfigsRequestResourceConfig) *apiError) func(map[string]string) (map[string]string, *apiError) {
	return func(cur map[string]string) (map[string]string, *apiError) {
		if cur == nil {
			cur = map[string]string{}
		}
		for _, c := range configs {
			if aerr := apply(cur, c); aerr != nil {
				return nil, aerr
			}
		}
		return cur, nil
	}
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
