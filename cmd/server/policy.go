package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/policygate/policygate/internal/authz"
	"github.com/policygate/policygate/internal/policywatch"
	"github.com/policygate/policygate/policies"
)

// startPolicy starts the policy engine for the configured source. A policy
// folder must load (compile, and pass its tests when required) before the
// server listens, and is then watched for edits; the embedded copy is
// fixed; bundles (fleet mode) arrive in the background, and /readyz stays
// 503 until the first is active.
func startPolicy(ctx context.Context, cfg Config, logger *slog.Logger, stdout io.Writer, reg prometheus.Registerer) (*authz.Engine, error) {
	engineCfg := authz.Config{
		Metrics:           reg,
		PolicyDir:         cfg.PolicyDir,
		TestsMustPass:     cfg.PolicyTestsMustPass,
		TestDirs:          cfg.PolicyTestDirs,
		OPAConfig:         cfg.OPAConfig,
		DecisionLogs:      cfg.DecisionLog == "stdout",
		DecisionCacheSize: cfg.DecisionCacheSize,
		// With several audiences, every route table must name its own.
		Audiences: configAudiences(cfg),
		Console:   stdout,
		Logger:    logger,
	}
	if cfg.OPAConfig == nil && cfg.PolicyDir == "" {
		engineCfg.PolicyFS = policies.FS
	}
	// Watch before the first load, so that no edit slips in between.
	var watcher *policywatch.Watcher
	if cfg.OPAConfig == nil && cfg.PolicyDir != "" {
		var err error
		if watcher, err = policywatch.New(append([]string{cfg.PolicyDir}, cfg.PolicyTestDirs...), logger); err != nil {
			return nil, err
		}
	}
	engine, err := authz.New(ctx, engineCfg)
	if err != nil {
		if watcher != nil {
			watcher.Close()
		}
		return nil, err
	}
	if cfg.OPAConfig != nil {
		logger.Info("policy from bundles (OPA_CONFIG); not ready until the first is active")
		return engine, nil
	}
	stop := func() {
		engine.Stop(context.WithoutCancel(ctx))
		if watcher != nil {
			watcher.Close()
		}
	}
	select {
	case <-engine.Ready():
	case <-time.After(policyLoadTimeout):
		stop()
		return nil, fmt.Errorf("policy (%s): not active after %s", engine.Status().Source, policyLoadTimeout)
	case <-ctx.Done():
		stop()
		return nil, ctx.Err()
	}
	if watcher == nil {
		return engine, nil
	}
	go watcher.Run(ctx, func(ctx context.Context) {
		// Reload logs and records its own failures.
		engine.Reload(ctx)
	})
	logger.Info("watching the policy folder; edits take effect without a restart", "dir", cfg.PolicyDir, "tests_must_pass", cfg.PolicyTestsMustPass)
	return engine, nil
}

// policyReadiness is /readyz's policy check: ready once a policy is active,
// and still ready when a newer version was refused (the old one serves);
// the details say which revision serves and why the newest does not.
func policyReadiness(engine *authz.Engine) (check func() error, details func() map[string]any) {
	check = func() error {
		select {
		case <-engine.Ready():
			return nil
		default:
		}
		if s := engine.Status(); s.LastError != "" {
			return fmt.Errorf("no policy is active yet: %s", s.LastError)
		}
		return errors.New("no policy is active yet")
	}
	details = func() map[string]any {
		s := engine.Status()
		d := map[string]any{
			"source":      s.Source,
			"revision":    s.Revision,
			"activations": s.Activations,
			"failures":    s.Failures,
		}
		if !s.ActivatedAt.IsZero() {
			d["activated_at"] = s.ActivatedAt.Format(time.RFC3339Nano)
		}
		if s.LastError != "" {
			d["last_error"] = s.LastError
			d["last_error_at"] = s.LastErrorAt.Format(time.RFC3339Nano)
		}
		return d
	}
	return check, details
}

// policyCollector exports the policy lifecycle as Prometheus metrics, read
// from the engine's status at scrape time (nothing on the request path).
type policyCollector struct {
	engine                          *authz.Engine
	activations, failures, info, at *prometheus.Desc
}

func newPolicyCollector(engine *authz.Engine) *policyCollector {
	return &policyCollector{
		engine: engine,
		activations: prometheus.NewDesc("policygate_policy_activations_total",
			"Policy versions activated (the first one included).", nil, nil),
		failures: prometheus.NewDesc("policygate_policy_reload_failures_total",
			"Policy versions refused or not fetched (compile errors, failed tests, bad or unsigned bundles, failed downloads); the active policy kept serving.", nil, nil),
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
