package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/policygate/policygate/internal/authn/authntest"
	"github.com/policygate/policygate/internal/tracing/tracingtest"
)

// With OTEL_EXPORTER_OTLP_ENDPOINT the server exports its spans inside
// the caller's trace; the last ones are flushed at shutdown.
func TestRunTracing(t *testing.T) {
	recv := tracingtest.NewReceiver(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", recv.URL) // read by the SDK
	p := authntest.NewProvider(t)
	t.Chdir(t.TempDir())
	s := startServer(t, nil, map[string]string{
		"LISTEN_ADDR": "127.0.0.1:0", "AUTH_ISSUER": p.Issuer, "AUTH_AUDIENCE": authntest.Audience, "AUTH_JWKS_URL": p.JWKSURL(),
		"OTEL_EXPORTER_OTLP_ENDPOINT": recv.URL,
	})
	token := p.Token(t, map[string]any{"sub": "dana", "scope": "read:messages"})
	const trace = "0af7651916cd43dd8448eb211c80319c"
	req, _ := http.NewRequest("GET", s.url+"/api/private-scoped", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Traceparent", "00-"+trace+"-b7ad6b7169203331-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	s.cancel()
	select {
	case err := <-s.done:
		s.done <- err
	case <-time.After(15 * time.Second):
		t.Fatal("no shutdown")
	}

	byName := map[string]tracingtest.Span{}
	for _, sp := range recv.Spans() {
		if sp.TraceID == trace {
			byName[sp.Name] = sp
		}
	}
	server, verify, decide := byName["GET"], byName["policygate.verify"], byName["policygate.decide"]
	if server.ParentSpanID != "b7ad6b7169203331" || verify.ParentSpanID != server.SpanID || decide.ParentSpanID != server.SpanID ||
		decide.Attributes["policygate.decision.id"] != resp.Header.Get("X-Decision-Id") || server.Resource["service.name"] != "policygate" {
		t.Errorf("spans of the caller's trace = %+v", byName)
	}
	for _, sp := range recv.Spans() {
		for _, text := range sp.Texts {
			for _, secret := range append(strings.Split(token, "."), "dana") {
				if strings.Contains(text, secret) {
					t.Errorf("span %s holds %q", sp.Name, secret)
				}
			}
		}
	}
}
