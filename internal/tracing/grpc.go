package tracing

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"

	"github.com/policygate/policygate/internal/gate"
)

// CheckGate is the gate as Envoy's gRPC face uses it (extauthz.Gate).
type CheckGate interface {
	Check(ctx context.Context, req gate.Request) gate.Outcome
	Refuse(reason, description string) gate.Outcome
}

// GRPCGate wraps g so that each Check is a server span,
// "policygate.check", continuing the trace Envoy sent in the call's
// traceparent metadata; the verify and decide spans nest under it.
func (t *Tracing) GRPCGate(g CheckGate) CheckGate { return &tracedCheckGate{t: t, next: g} }

type tracedCheckGate struct {
	t    *Tracing
	next CheckGate
}

func (g *tracedCheckGate) Check(ctx context.Context, req gate.Request) gate.Outcome {
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		ctx = propagation.TraceContext{}.Extract(ctx, mdCarrier(md))
	}
	ctx, span := g.t.tracer.Start(ctx, "policygate.check", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			attribute.String("rpc.system", "grpc"),
			attribute.String("rpc.service", "envoy.service.auth.v3.Authorization"),
			attribute.String("rpc.method", "Check"),
		))
	defer span.End()
	out := g.next.Check(ctx, req)
	span.SetAttributes(attribute.String("policygate.outcome", out.Kind.String()), attribute.String(attrReason, out.Reason))
	if out.Err != nil {
		span.SetStatus(codes.Error, out.Kind.String())
	}
	return out
}

func (g *tracedCheckGate) Refuse(reason, description string) gate.Outcome {
	return g.next.Refuse(reason, description)
}

// mdCarrier reads W3C trace context from gRPC metadata.
type mdCarrier metadata.MD

func (c mdCarrier) Get(key string) string {
	if v := metadata.MD(c).Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (c mdCarrier) Set(key, value string) { metadata.MD(c).Set(key, value) }

func (c mdCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
