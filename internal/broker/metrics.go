package broker

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// registerControlMetrics adds the control plane's gauges, computed from
// the registry when scraped.
func (b *Broker) registerControlMetrics() {
	b.metrics.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gregor_topics", Help: "Topics in the metadata.",
		}, func() float64 { return float64(b.store.Image().NumTopics()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gregor_partitions", Help: "Partitions open on this broker.",
		}, func() float64 { return float64(b.countPartitions(false)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gregor_partitions_offline", Help: "Partitions whose log could not be opened.",
		}, func() float64 { return float64(b.countPartitions(true)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gregor_metadata_records", Help: "Records applied from the metadata log.",
		}, func() float64 { return float64(b.store.Image().Offset) }),
	)
}

func (b *Broker) countPartitions(offline bool) int {
	n := 0
	for _, t := range b.currentRegistry().byName {
		for _, r := range t.partitions {
			if errors.Is(r.err, errNotHostedHere) {
				continue // a cluster's partition kept by other brokers
			}
			if (r.p == nil) == offline {
				n++
			}
		}
	}
	return n
}
