package tracing_test

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"

	"github.com/policygate/policygate/internal/gate"
	"github.com/policygate/policygate/internal/tracing"
)

// A gRPC Check is a server span continuing the trace Envoy sends in the
// call's metadata, with the verify and decide spans under it.
func TestGRPCGateSpans(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	s := newTraced(t, tracing.Config{}, exp, sdktrace.WithSyncer(exp))
	token := s.provider.Token(t, map[string]any{"scope": "read:messages"})
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("traceparent", "00-"+callerTrace+"-"+callerSpan+"-01"))
	out := s.tracing.GRPCGate(s.gate).Check(ctx, gate.Request{Method: "GET", Path: "/api/private-scoped", Authorization: []string{"Bearer " + token}})
	if out.Kind != gate.Allowed {
		t.Fatalf("Check() = %v", out.Kind)
	}
	spans := spanTree(t, exp.GetSpans())
	check := spans["policygate.check"]
	if check.SpanKind != trace.SpanKindServer || check.SpanContext.TraceID().String() != callerTrace || check.Parent.SpanID().String() != callerSpan ||
		attr(check, "policygate.outcome") != "allowed" || attr(check, "rpc.method") != "Check" {
		t.Errorf("check span = %+v", check)
	}
	for _, name := range []string{"policygate.verify", "policygate.decide"} {
		if spans[name].Parent.SpanID() != check.SpanContext.SpanID() {
			t.Errorf("%s's parent = %s, want the check span", name, spans[name].Parent.SpanID())
		}
	}
	noSecrets(t, exp.GetSpans(), token)
}
