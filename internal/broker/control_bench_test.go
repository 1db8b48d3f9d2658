package broker_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/gregor-log/gregor/internal/testbroker"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkCreateTopic creates one single-partition topic per iteration:
// a metadata append (one fsync) plus opening a partition's log.
func BenchmarkCreateTopic(b *testing.B) {
	br := testbroker.Start(b, nil)
	adm := br.Admin(b)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		resp, err := adm.CreateTopic(ctx, 1, 1, nil, "bench-"+strconv.Itoa(i))
		if err != nil || resp.Err != nil {
			b.Fatal(err, resp.Err)
		}
	}
}

// BenchmarkMetadata is a Metadata v12 request for one topic of 100.
func BenchmarkMetadata(b *testing.B) {
	br := testbroker.Start(b, nil)
	cl := br.Client(b)
	adm := br.Admin(b)
	ctx := context.Background()
	for i := range 100 {
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, "t"+strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
	}
	req := kmsg.NewPtrMetadataRequest()
	name := "t42"
	req.Topics = append(req.Topics, kmsg.MetadataRequestTopic{Topic: &name})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := req.RequestWith(ctx, cl); err != nil {
			b.Fatal(err)
		}
	}
}
