package api

import (
	"errors"
	"net/http"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the service's own Prometheus series, registered on the
// registry the caller built (never the global default one).
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec

	// The series each request touches, resolved once per label set rather
	// than by hashing label values on every request. Keys are bounded:
	// route patterns, the methods below and the status codes handlers write.
	requestSeries sync.Map // requestKey -> *requestSeries
}

type requestKey struct {
	route, method string
	status        int
}

// requestSeries are one route, method and status's counter and histogram.
type requestSeries struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

func (s *requestSeries) observe(seconds float64) {
	s.count.Inc()
	s.duration.Observe(seconds)
}

// methodLabels bounds the method label: any token is a valid HTTP method,
// and a client inventing new ones must not create new series.
var methodLabels = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodConnect: true,
	http.MethodOptions: true, http.MethodTrace: true,
}

func (m *metrics) request(route, method string, status int) *requestSeries {
	if !methodLabels[method] {
		method = "OTHER"
	}
	k := requestKey{route, method, status}
	if s, ok := m.requestSeries.Load(k); ok {
		return s.(*requestSeries)
	}
	s := &requestSeries{
		count:    m.requests.WithLabelValues(route, method, strconv.Itoa(status)),
		duration: m.duration.WithLabelValues(route),
	}
	actual, _ := m.requestSeries.LoadOrStore(k, s)
	return actual.(*requestSeries)
}

// DecisionMetrics counts the gate's outcomes (policygate_decisions_total)
// for every face: the gate reports each outcome once (gate.WithObserver),
// with its reason already clamped to the known set.
type DecisionMetrics struct {
	decisions *prometheus.CounterVec
	series    sync.Map // [2]string{result, reason} -> prometheus.Counter
}

// NewDecisionMetrics registers policygate_decisions_total on reg.
func NewDecisionMetrics(reg prometheus.Registerer) *DecisionMetrics {
	m := &DecisionMetrics{decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "policygate_decisions_total",
		Help: "Gate outcomes by result (allowed, denied, error) and reason.",
	}, []string{"result", "reason"})}
	reg.MustRegister(m.decisions)
	return m
}

// ObserveDecision implements gate.Observer.
func (m *DecisionMetrics) ObserveDecision(result, reason string) {
	k := [2]string{result, reason}
	c, ok := m.series.Load(k)
	if !ok {
		c, _ = m.series.LoadOrStore(k, m.decisions.WithLabelValues(result, reason))
	}
	c.(prometheus.Counter).Inc()
}

// requestMetrics registers the request series on reg, or reuses those a
// server sharing reg (the admin listener's) registered first.
func requestMetrics(reg prometheus.Registerer) *metrics {
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
	}
	m.requests = register(reg, m.requests)
	m.duration = register(reg, m.duration)
	return m
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err) // a programming error, as with MustRegister
	}
	return c
}
