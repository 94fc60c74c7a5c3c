package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	grpcmd "google.golang.org/grpc/metadata"

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

// Envoy's gRPC Check: the 401 names the metadata document (--dev sets
// PUBLIC_URL), and the check is a server span in the trace Envoy sends.
func TestRunGRPCChallengeAndSpans(t *testing.T) {
	recv := tracingtest.NewReceiver(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", recv.URL)
	t.Chdir(t.TempDir())
	s := startServer(t, []string{"--dev"}, map[string]string{
		"LISTEN_ADDR": "127.0.0.1:0", "GRPC_LISTEN_ADDR": "127.0.0.1:0", "OTEL_EXPORTER_OTLP_ENDPOINT": recv.URL,
	})
	m := grpcListeningRE.FindStringSubmatch(s.stderr.String())
	if m == nil {
		t.Fatalf("no grpc listening line:\n%s", s.stderr.String())
	}
	conn, err := grpc.NewClient(m[1], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const trace = "5bf92f3577b34da6a3ce929d0e0e4736"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ctx = grpcmd.AppendToOutgoingContext(ctx, "traceparent", "00-"+trace+"-00f067aa0ba902b7-01")
	resp, err := authv3.NewAuthorizationClient(conn).Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{Method: "GET", Host: "localhost", Path: "/api/private"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var challenge string
	for _, h := range resp.GetDeniedResponse().GetHeaders() {
		if strings.EqualFold(h.GetHeader().GetKey(), "WWW-Authenticate") {
			challenge = h.GetHeader().GetValue()
		}
	}
	if want := `, resource_metadata="` + s.url + `/.well-known/oauth-protected-resource"`; resp.GetDeniedResponse().GetStatus().GetCode() != 401 || !strings.HasSuffix(challenge, want) {
		t.Errorf("Check denial = %v, challenge %q, want 401 ending in %q", resp.GetDeniedResponse().GetStatus(), challenge, want)
	}
	s.cancel()
	select {
	case err := <-s.done:
		s.done <- err
	case <-time.After(15 * time.Second):
		t.Fatal("no shutdown")
	}
	var names []string
	for _, sp := range recv.Spans() {
		if sp.TraceID == trace {
			names = append(names, sp.Name)
		}
	}
	slices.Sort(names)
	if strings.Join(names, ",") != "policygate.check,policygate.decide" {
		t.Errorf("spans in Envoy's trace = %v, want policygate.check and policygate.decide", names)
	}
}

// TestTracingSamplerChecked: a sampler setting the SDK would ignore (it
// warns once and samples everything) refuses to start instead.
func TestTracingSamplerChecked(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string // the variable the error names; "" for none
	}{
		{name: "default", env: map[string]string{}},
		{name: "parentbased_ratio", env: map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"}},
		{name: "ratio_without_arg", env: map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio"}},
		{name: "always_off", env: map[string]string{"OTEL_TRACES_SAMPLER": "always_off"}},
		{name: "unknown_sampler", env: map[string]string{"OTEL_TRACES_SAMPLER": "bogus"}, wantErr: "OTEL_TRACES_SAMPLER"},
		{name: "unsupported_sampler", env: map[string]string{"OTEL_TRACES_SAMPLER": "jaeger_remote"}, wantErr: "OTEL_TRACES_SAMPLER"},
		{name: "ratio_not_a_number", env: map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "abc"}, wantErr: "OTEL_TRACES_SAMPLER_ARG"},
		{name: "upper_case_sampler", env: map[string]string{"OTEL_TRACES_SAMPLER": "ParentBased_TraceIdRatio", "OTEL_TRACES_SAMPLER_ARG": "0.5"}},
		{name: "ratio_nan", env: map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "NaN"}, wantErr: "OTEL_TRACES_SAMPLER_ARG"},
		{name: "ratio_above_one", env: map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"}, wantErr: "OTEL_TRACES_SAMPLER_ARG"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}
			for k, v := range tc.env {
				env[k] = v
			}
			_, err := loadTracingConfig(envFunc(env), envFunc(env))
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.wantErr+":")) {
				t.Errorf("loadTracingConfig() = %v, want an error naming %q", err, tc.wantErr)
			}
		})
	}
	// Off, the sampler is not the server's business.
	if _, err := loadTracingConfig(envFunc(map[string]string{"OTEL_TRACES_SAMPLER": "bogus"}), envFunc(nil)); err != nil {
		t.Errorf("loadTracingConfig() with tracing off = %v, want nil", err)
	}
}

// TestTracingErrorsLogged: the SDK's export failures reach the server's
// own log (JSON here), not plain lines on stderr.
func TestTracingErrorsLogged(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + ln.Addr().String()
	ln.Close() // nothing listens: every export fails
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
	t.Setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "500")
	p := authntest.NewProvider(t)
	t.Chdir(t.TempDir())
	s := startServer(t, nil, map[string]string{
		"LISTEN_ADDR": "127.0.0.1:0", "AUTH_ISSUER": p.Issuer, "AUTH_AUDIENCE": authntest.Audience, "AUTH_JWKS_URL": p.JWKSURL(),
		"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "LOG_FORMAT": "json",
	})
	eventually(t, "an export failure in the server's log", func() bool {
		if resp, err := http.Get(s.url + "/api/public"); err == nil {
			resp.Body.Close()
		}
		return strings.Contains(s.stderr.String(), `"msg":"opentelemetry"`)
	})
	for line := range strings.Lines(s.stderr.String()) {
		if !json.Valid([]byte(line)) {
			t.Errorf("stderr line is not JSON: %q", line)
		}
	}
}
