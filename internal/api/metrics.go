package api

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the service's own Prometheus series, registered on the
// registry the caller built (never the global default one).
type metrics struct {
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	decisions *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "policygate_http_requests_total",
			Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "policygate_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .5, 1},
		}, []string{"route"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "policygate_decisions_total",
			Help: "Gate outcomes by result (allowed, denied, error) and reason.",
		}, []string{"result", "reason"}),
	}
	reg.MustRegister(m.requests, m.duration, m.decisions)
	return m
}
