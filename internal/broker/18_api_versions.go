package broker

import (
	"context"
	"regexp"
	"slices"

	"github.com/gregor-log/gregor/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.ApiVersions, 0, 4, handleApiVersions) }

// clientSoftware is KIP-511's rule for client_software_name and _version.
var clientSoftware = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?$`)

// handleApiVersions lists exactly the registered APIs and versions. An
// unsupported ApiVersions version never gets here: the wire server
// answers it with the v0 fallback.
func handleApiVersions(_ context.Context, b *Broker, req *wire.Request) (any, error) {
	r := req.Body.(*kmsg.ApiVersionsRequest)
	resp := r.ResponseKind().(*kmsg.ApiVersionsResponse)
	if r.Version >= 3 && (!clientSoftware.MatchString(r.ClientSoftwareName) || !clientSoftware.MatchString(r.ClientSoftwareVersion)) {
		resp.ErrorCode = kerr.InvalidRequest.Code
	}
	for _, a := range b.advertisedAPIs() {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = a.Key, a.MinVersion, a.MaxVersion
		resp.ApiKeys = append(resp.ApiKeys, k)
	}
	slices.SortFunc(resp.ApiKeys, func(x, y kmsg.ApiVersionsResponseApiKey) int { return int(x.ApiKey) - int(y.ApiKey) })
	// No features are finalized: there are no feature flags yet.
	resp.FinalizedFeaturesEpoch = -1
	return resp, nil
}
