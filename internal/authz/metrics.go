package authz

import "github.com/prometheus/client_golang/prometheus"

// registerMetrics exports the engine's own metrics on reg: the policy
// lifecycle and the decision cache, both read at scrape time (nothing on
// the request path).
func (e *Engine) registerMetrics(reg prometheus.Registerer) {
	if err := reg.Register(newPolicyCollector(e)); err != nil {
		e.logger.Error("policy metrics", "err", err.Error())
	}
	e.registerCacheMetrics(reg)
}

// policyCollector exports the policy lifecycle as Prometheus metrics, read
// from the engine's status at scrape time.
type policyCollector struct {
	engine                          *Engine
	activations, failures, info, at *prometheus.Desc
}

func newPolicyCollector(engine *Engine) *policyCollector {
	return &policyCollector{
		engine: engine,
		activations: prometheus.NewDesc("policygate_policy_activations_total",
			"Policy activations (the first one included; in fleet mode, each download of a bundle without an ETag activates again).", nil, nil),
		failures: prometheus.NewDesc("policygate_policy_reload_failures_total",
			"Refused or failed policy loads, one per attempt (compile errors, failed tests, bad or unsigned bundles, failed or stalled downloads, each poll counted); the active policy kept serving.", nil, nil),
		info: prometheus.NewDesc("policygate_policy_info",
			"The active policy: 1, labelled with its source and revision.", []string{"source", "revision"}, nil),
		at: prometheus.NewDesc("policygate_policy_last_activation_timestamp_seconds",
			"When the active policy was activated.", nil, nil),
	}
}

func (c *policyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.activations
	ch <- c.failures
	ch <- c.info
	ch <- c.at
}

func (c *policyCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.engine.Status()
	ch <- prometheus.MustNewConstMetric(c.activations, prometheus.CounterValue, float64(s.Activations))
	ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, float64(s.Failures))
	if s.ActivatedAt.IsZero() {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.info, prometheus.GaugeValue, 1, s.Source, s.Revision)
	ch <- prometheus.MustNewConstMetric(c.at, prometheus.GaugeValue, float64(s.ActivatedAt.UnixNano())/1e9)
}

// registerCacheMetrics exports the decision cache's lookups as
// policygate_decision_cache_lookups_total{result="hit"|"miss"}; both stay 0
// while the cache is off.
func (e *Engine) registerCacheMetrics(reg prometheus.Registerer) {
	for _, result := range []string{"hit", "miss"} {
		c := prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "policygate_decision_cache_lookups_total",
			Help:        "Decision cache lookups by result (hit, miss).",
			ConstLabels: prometheus.Labels{"result": result},
		}, func() float64 {
			if e.decisions == nil {
				return 0
			}
			if result == "hit" {
				return float64(e.decisions.hits.Load())
			}
			return float64(e.decisions.misses.Load())
		})
		if err := reg.Register(c); err != nil {
			e.logger.Error("decision cache metrics", "err", err.Error())
		}
	}
}
