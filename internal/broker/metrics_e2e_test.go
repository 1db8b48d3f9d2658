package broker_test

import (
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/testbroker"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestMetricsAfterTraffic: what /metrics serves after some produce and
// fetch traffic: requests and latency per API, bytes in and out, and
// partitions.
func TestMetricsAfterTraffic(t *testing.T) {
	b := testbroker.Start(t, nil)
	feTopic(t, b, "metered", 3)
	ctx := feCtx(t)
	prod := b.Client(t, kgo.DefaultProduceTopic("metered"))
	if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("hello")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	feConsume(t, b.Client(t, kgo.ConsumeTopics("metered"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())), 1)

	// A request is counted once its answer is written, which may be just
	// after the client has read it: wait for every series.
	apis := []string{"Produce", "Fetch", "Metadata", "ApiVersions", "CreateTopics"}
	var byName map[string]*dto.MetricFamily
	for deadline := time.Now().Add(30 * time.Second); ; {
		families, err := b.Metrics().Gather()
		if err != nil {
			t.Fatal(err)
		}
		byName = map[string]*dto.MetricFamily{}
		for _, f := range families {
			byName[f.GetName()] = f
		}
		all := true
		// Both families: one Gather may read the counter just before the
		// request is counted and the histogram just after.
		for _, api := range apis {
			all = all && hasAPI(byName["gregor_request_duration_seconds"], api) && hasAPI(byName["gregor_requests_total"], api)
		}
		if all || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	perAPI := func(family, api string) *dto.Metric {
		t.Helper()
		f := byName[family]
		if f == nil {
			t.Fatalf("no metric %s", family)
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "api" && l.GetValue() == api {
					return m
				}
			}
		}
		t.Fatalf("%s has no api=%q series", family, api)
		return nil
	}
	for _, api := range apis {
		if n := perAPI("gregor_requests_total", api).GetCounter().GetValue(); n < 1 {
			t.Errorf("gregor_requests_total{api=%q} = %v", api, n)
		}
		if n := perAPI("gregor_request_duration_seconds", api).GetHistogram().GetSampleCount(); n < 1 {
			t.Errorf("gregor_request_duration_seconds{api=%q} has %d samples", api, n)
		}
	}
	value := func(name string) float64 {
		t.Helper()
		f := byName[name]
		if f == nil || len(f.GetMetric()) != 1 {
			t.Fatalf("no single series %s", name)
		}
		m := f.GetMetric()[0]
		if m.GetCounter() != nil {
			return m.GetCounter().GetValue()
		}
		return m.GetGauge().GetValue()
	}
	if in, out := value("gregor_network_received_bytes_total"), value("gregor_network_sent_bytes_total"); in < 5 || out < 5 {
		t.Errorf("bytes in %v, out %v", in, out)
	}
	if n := value("gregor_partitions"); n != 3 {
		t.Errorf("gregor_partitions = %v, want 3", n)
	}
}

func hasAPI(f *dto.MetricFamily, api string) bool {
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "api" && l.GetValue() == api {
				return true
			}
		}
	}
	return false
}
