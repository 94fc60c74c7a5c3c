package main

import (
	"context"
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
	src := policySource(cfg)
	engineCfg := authz.Config{
		Metrics:           reg,
		TestsMustPass:     cfg.PolicyTestsMustPass,
		TestDirs:          cfg.PolicyTestDirs,
		DecisionLogs:      cfg.DecisionLog == "stdout",
		DecisionCacheSize: cfg.DecisionCacheSize,
		// With several audiences, every route table must name its own.
		Audiences: configAudiences(cfg),
		Console:   stdout,
		Logger:    logger,
	}.WithSource(src)
	// Watch before the first load, so that no edit slips in between.
	var watcher *policywatch.Watcher
	if dir := src.Folder(); dir != "" {
		var err error
		if watcher, err = policywatch.New(append([]string{dir}, cfg.PolicyTestDirs...), logger); err != nil {
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
	if src.Bundles() {
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
	logger.Info("watching the policy folder; edits take effect without a restart", "dir", src.Folder(), "tests_must_pass", cfg.PolicyTestsMustPass)
	return engine, nil
}

// policySource is where the server's policy comes from: OPA_CONFIG's
// bundles, else the policy folder, else the copy embedded in the binary.
func policySource(cfg Config) authz.Source {
	return authz.NewSource(cfg.OPAConfig, cfg.PolicyDir, policies.FS)
}
