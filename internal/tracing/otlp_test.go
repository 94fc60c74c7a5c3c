package tracing_test

import (
	"context"
	"strings"
	"testing"

	"github.com/policygate/policygate/internal/tracing"
	"github.com/policygate/policygate/internal/tracing/tracingtest"
)

// One round trip through the real OTLP/HTTP exporter, configured by the
// OTEL_* environment alone, to a receiver decoding the protobuf request.
func TestOTLPExport(t *testing.T) {
	recv := tracingtest.NewReceiver(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", recv.URL)
	t.Setenv("OTEL_SERVICE_NAME", "gate-eu-1")
	tr, err := tracing.New(context.Background(), func(k string) string { return "" }, tracing.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s := newTraced(t, tracing.Config{}, nil)
	s.handler = tr.Handler(s.handler)
	s.get(t, "/api/public?access_token=secret-in-query", "", "00-"+callerTrace+"-"+callerSpan+"-01")
	if err := tr.Shutdown(context.Background()); err != nil { // flushes the batch
		t.Fatal(err)
	}
	if errs := recv.Errors(); len(errs) > 0 {
		t.Fatalf("receiver errors: %v", errs)
	}
	spans := recv.Spans()
	if len(spans) != 1 {
		t.Fatalf("received %d spans, want the server span: %+v", len(spans), spans)
	}
	sp := spans[0]
	if sp.Name != "GET" || sp.TraceID != callerTrace || sp.ParentSpanID != callerSpan ||
		sp.Resource["service.name"] != "gate-eu-1" || sp.Attributes["url.path"] != "/api/public" {
		t.Errorf("span = %+v", sp)
	}
	for _, text := range sp.Texts {
		if strings.Contains(text, "secret-in-query") {
			t.Errorf("the query reached a span: %q", text)
		}
	}
}
