package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/testbroker"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestApiVersionsAndMetadata(t *testing.T) {
	b := testbroker.Start(t, nil)
	cl := b.Client(t)
	ctx := ctxT(t)

	av := kmsg.NewPtrApiVersionsRequest()
	av.ClientSoftwareName, av.ClientSoftwareVersion = "gregor-test", "1.0"
	avResp, err := av.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if avResp.ErrorCode != 0 || len(avResp.ApiKeys) == 0 {
		t.Fatalf("ApiVersions: error %d, %d keys", avResp.ErrorCode, len(avResp.ApiKeys))
	}

	md := kmsg.NewPtrMetadataRequest()
	mdResp, err := md.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(mdResp.Brokers) != 1 || mdResp.Brokers[0].NodeID != 1 || mdResp.ControllerID != 1 {
		t.Fatalf("Metadata brokers %+v controller %d", mdResp.Brokers, mdResp.ControllerID)
	}
	if mdResp.ClusterID == nil || len(*mdResp.ClusterID) != 22 {
		t.Fatalf("cluster id %v", mdResp.ClusterID)
	}
}
