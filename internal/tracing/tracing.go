package tracing

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// instrumentation names policygate's tracer.
const instrumentation = "github.com/policygate/policygate"

// Config is what policygate itself decides about its spans.
type Config struct {
	// Subject records the verified token's "sub" on the verification
	// span (TRACE_SUBJECT=true). Off by default: a subject is personal
	// data in many deployments.
	Subject bool
	// Version is the service.version resource attribute, when known.
	Version string
}

// Tracing is an installed tracer provider and the hooks that use it.
type Tracing struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
	subject  bool
}

// Enabled reports whether the OpenTelemetry environment asks for trace
// export: an OTLP endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), the SDK is not disabled
// (OTEL_SDK_DISABLED) and the traces exporter is not "none".
func Enabled(getenv func(string) string) bool {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") ||
		strings.EqualFold(strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")), "none") {
		return false
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// New builds the OTLP exporter from the OTEL_* environment (the SDK reads
// endpoint, headers, timeout, compression, TLS and sampler itself;
// protocol grpc or http/protobuf, the default, picks the exporter) and a
// batching tracer provider over it.
func New(ctx context.Context, getenv func(string) string, cfg Config) (*Tracing, error) {
	protocol := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if protocol == "" {
		protocol = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	var exp sdktrace.SpanExporter
	var err error
	switch protocol {
	case "", "http/protobuf":
		exp, err = otlptracehttp.New(ctx)
	case "grpc":
		exp, err = otlptracegrpc.New(ctx)
	default:
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL %q: want http/protobuf or grpc", protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("otlp trace exporter: %w", err)
	}
	return NewWithExporter(ctx, exp, cfg, sdktrace.WithBatcher(exp))
}

// NewWithExporter builds a tracer provider over exp with the given
// options (tests pass sdktrace.WithSyncer); the resource says
// service.name=policygate unless OTEL_SERVICE_NAME or
// OTEL_RESOURCE_ATTRIBUTES say otherwise.
func NewWithExporter(ctx context.Context, exp sdktrace.SpanExporter, cfg Config, opts ...sdktrace.TracerProviderOption) (*Tracing, error) {
	attrs := []attribute.KeyValue{attribute.String("service.name", "policygate")}
	if cfg.Version != "" {
		attrs = append(attrs, attribute.String("service.version", cfg.Version))
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attrs...),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(), // last: the operator's names win
	)
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(append([]sdktrace.TracerProviderOption{sdktrace.WithResource(res)}, opts...)...)
	return &Tracing{provider: tp, tracer: tp.Tracer(instrumentation), subject: cfg.Subject}, nil
}

// Shutdown exports what is buffered and stops the provider.
func (t *Tracing) Shutdown(ctx context.Context) error {
	return t.provider.Shutdown(ctx)
}

// Handler wraps h with a server span per request, continuing the
// caller's trace from its W3C traceparent header. Request headers are not
// recorded (an Authorization header never reaches a span), nor the query.
func (t *Tracing) Handler(h http.Handler) http.Handler {
	return otelhttp.NewHandler(h, "policygate",
		otelhttp.WithTracerProvider(t.provider),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()), // metrics are Prometheus'
		otelhttp.WithPropagators(propagation.TraceContext{}),
	)
}
