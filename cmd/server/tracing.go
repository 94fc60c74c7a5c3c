package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel"

	"github.com/policygate/policygate/internal/extauthz"
	"github.com/policygate/policygate/internal/tracing"
)

// traceFlushTimeout bounds the export of the last spans at shutdown.
const traceFlushTimeout = 5 * time.Second

// tracingConfig is the tracing part of the configuration. OpenTelemetry's
// OTEL_* variables are read by its SDK from the process environment, so
// on tells from there too (not from ./.env, which the SDK never sees).
type tracingConfig struct {
	on      bool
	subject bool // TRACE_SUBJECT
	// onlyInDotEnv: OTEL_EXPORTER_OTLP_ENDPOINT is set in ./.env alone.
	onlyInDotEnv bool
}

func loadTracingConfig(processEnv, env func(string) string) (tracingConfig, error) {
	c := tracingConfig{on: tracing.Enabled(processEnv)}
	c.onlyInDotEnv = !c.on && tracing.Enabled(env)
	if v := strings.TrimSpace(env("TRACE_SUBJECT")); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return c, fmt.Errorf("TRACE_SUBJECT: %q is not true or false", v)
		}
		c.subject = b
	}
	if c.on {
		if err := checkSampler(processEnv); err != nil {
			return c, err
		}
	}
	return c, nil
}

// checkSampler refuses a sampler setting the SDK would not use: it warns
// once on stderr and samples with its default instead, which hides a typo
// in a setting meant to bound the cost of tracing.
func checkSampler(processEnv func(string) string) error {
	sampler := strings.ToLower(strings.TrimSpace(processEnv("OTEL_TRACES_SAMPLER"))) // as the SDK reads it
	switch sampler {
	case "", "always_on", "always_off", "parentbased_always_on", "parentbased_always_off":
		return nil
	case "traceidratio", "parentbased_traceidratio":
	default:
		return fmt.Errorf("OTEL_TRACES_SAMPLER: %q is not one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio", sampler)
	}
	arg := strings.TrimSpace(processEnv("OTEL_TRACES_SAMPLER_ARG"))
	if arg == "" {
		return nil // the SDK's default ratio, 1.0
	}
	if r, err := strconv.ParseFloat(arg, 64); err != nil || !(r >= 0 && r <= 1) { // NaN too
		return fmt.Errorf("OTEL_TRACES_SAMPLER_ARG: %q is not a ratio from 0 to 1", arg)
	}
	return nil
}

// startTracing installs OpenTelemetry tracing when the environment asks
// for it; nil when off (then nothing of it is installed).
func startTracing(ctx context.Context, processEnv func(string) string, c tracingConfig, logger *slog.Logger) (*tracing.Tracing, error) {
	if c.onlyInDotEnv {
		logger.Warn("OTEL_* settings in .env are not read by OpenTelemetry's SDK: set them in the process environment; tracing stays off")
	}
	if !c.on {
		return nil, nil
	}
	// The SDK reports export failures through this process-wide handler;
	// its default writes plain lines to stderr, past LOG_FORMAT and
	// LOG_LEVEL.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Warn("opentelemetry", "err", err.Error())
	}))
	tr, err := tracing.New(ctx, processEnv, tracing.Config{Subject: c.subject})
	if err != nil {
		return nil, err
	}
	logger.Info("tracing on: spans exported over OTLP (OTEL_* settings)", "trace_subject", c.subject)
	return tr, nil
}

// stopTracing exports the spans still buffered.
func stopTracing(ctx context.Context, tr *tracing.Tracing, logger *slog.Logger) {
	if tr == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), traceFlushTimeout)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		logger.Warn("last spans not exported", "err", err.Error())
	}
}

// tracedHandler wraps h with the server span when tracing is on.
func tracedHandler(tr *tracing.Tracing, h http.Handler) http.Handler {
	if tr == nil {
		return h
	}
	return tr.Handler(h)
}

// tracedGRPCGate gives each gRPC Check its server span when tracing is on.
func tracedGRPCGate(tr *tracing.Tracing, g extauthz.Gate) extauthz.Gate {
	if tr == nil {
		return g
	}
	return tr.GRPCGate(g)
}
