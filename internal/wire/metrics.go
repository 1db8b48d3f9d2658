package wire

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Metrics are the network layer's Prometheus metrics. A nil *Metrics
// records nothing, so tests can leave it out.
type Metrics struct {
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	bytesIn     prometheus.Counter
	bytesOut    prometheus.Counter
	connections prometheus.Gauge
	refused     *prometheus.CounterVec
}

// NewMetrics registers the network metrics with reg (one registry per
// broker: several brokers share a test process).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gregor_requests_total", Help: "Requests answered, by API.",
		}, []string{"api"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gregor_request_duration_seconds",
			Help:    "Time from reading a request to writing its response, by API.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 4, 11), // 50µs .. 52s
		}, []string{"api"}),
		bytesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gregor_network_received_bytes_total", Help: "Request bytes read, frames included.",
		}),
		bytesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gregor_network_sent_bytes_total", Help: "Response bytes written, frames included.",
		}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gregor_connections_open", Help: "Client connections open now.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gregor_connections_refused_requests_total",
			Help: "Connections closed because of a request that could not be served, by reason.",
		}, []string{"reason"}),
	}
	reg.MustRegister(m.requests, m.latency, m.bytesIn, m.bytesOut, m.connections, m.refused)
	return m
}

func (m *Metrics) connOpened() {
	if m != nil {
		m.connections.Inc()
	}
}

func (m *Metrics) connClosed() {
	if m != nil {
		m.connections.Dec()
	}
}

func (m *Metrics) received(n int) {
	if m != nil {
		m.bytesIn.Add(float64(n))
	}
}

// observe records one answered request. key is always one the Server
// accepted, so the label set is bounded by the API table.
func (m *Metrics) observe(key int16, received time.Time, sent int) {
	if m == nil {
		return
	}
	name := kmsg.Key(key).Name()
	m.requests.WithLabelValues(name).Inc()
	m.latency.WithLabelValues(name).Observe(time.Since(received).Seconds())
	m.bytesOut.Add(float64(sent))
}

func (m *Metrics) closedBy(err error) {
	if m == nil {
		return
	}
	reason := "malformed"
	switch {
	case errors.Is(err, ErrRequestTooLarge):
		reason = "too_large"
	case errors.Is(err, ErrUnknownAPI):
		reason = "unknown_api"
	case errors.Is(err, ErrUnsupportedVersion):
		reason = "unsupported_version"
	}
	m.refused.WithLabelValues(reason).Inc()
}
