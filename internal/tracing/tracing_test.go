package tracing_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/policygate/policygate/internal/api"
	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/authn/authntest"
	"github.com/policygate/policygate/internal/authz"
	"github.com/policygate/policygate/internal/gate"
	"github.com/policygate/policygate/internal/tracing"
)

// traced is the real service (keys from an httptest JWKS, the shipped
// policy, the gate, the router) with tracing installed over exporter.
type traced struct {
	handler  http.Handler
	provider *authntest.Provider
	tracing  *tracing.Tracing
	gate     *gate.Gate // with the verify and decide spans when tracing
}

func newTraced(t testing.TB, cfg tracing.Config, exporter sdktrace.SpanExporter, opts ...sdktrace.TracerProviderOption) *traced {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	p := authntest.NewProvider(t)
	keys := authn.NewKeySet(authn.KeySetConfig{JWKSURL: p.JWKSURL(), UnknownKIDInterval: time.Millisecond})
	authntest.RunKeys(t, keys)
	v, err := authn.NewVerifier(keys, authn.VerifierConfig{Issuer: p.Issuer, Audience: authntest.Audience, Algorithms: []string{"RS256"}, CacheSize: authn.DefaultCacheSize})
	if err != nil {
		t.Fatal(err)
	}
	engine, err := authz.New(ctx, authz.Config{PolicyDir: "../../policies", DecisionCacheSize: authz.DefaultDecisionCacheSize})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Stop(context.Background()) })
	authntest.AwaitKeys(t, keys)
	select {
	case <-engine.Ready():
	case <-time.After(20 * time.Second):
		t.Fatalf("policy not active within 20s: %s", engine.Status().LastError)
	}
	if exporter == nil {
		return &traced{handler: api.NewServer(api.Options{Gate: gate.New(v, engine), Realm: "test"}), provider: p}
	}
	tr, err := tracing.NewWithExporter(ctx, exporter, cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	g := gate.New(tr.Verifier(v), tr.Decider(engine))
	h := tr.Handler(api.NewServer(api.Options{Gate: g, Realm: "test"}))
	return &traced{handler: h, provider: p, tracing: tr, gate: g}
}

func (s *traced) get(t testing.TB, path, token, traceparent string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	req.RemoteAddr = "127.0.0.1:1234"
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if traceparent != "" {
		req.Header.Set("Traceparent", traceparent)
	}
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)
	return rec
}

const (
	callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpan  = "00f067aa0ba902b7"
)

// spanTree is one request's spans by name.
func spanTree(t *testing.T, spans tracetest.SpanStubs) map[string]tracetest.SpanStub {
	t.Helper()
	byName := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		if _, dup := byName[s.Name]; dup {
			t.Fatalf("two %q spans in one request", s.Name)
		}
		byName[s.Name] = s
	}
	return byName
}

func attr(s tracetest.SpanStub, key string) string {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}

func TestSpanTree(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	s := newTraced(t, tracing.Config{}, exp, sdktrace.WithSyncer(exp))
	p := s.provider
	scoped := p.Token(t, map[string]any{"sub": "alice", "scope": "read:messages", "email": "alice@example.com"})
	rotated := authntest.NewKey(t, "key-2")

	tests := []struct {
		name          string
		path, token   string
		wantStatus    int
		wantSpans     []string // besides the server span
		tokenCacheHit string
		decisionCache string
		reason        string
		tokenResult   string
	}{
		{name: "first", path: "/api/private-scoped", token: scoped, wantStatus: 200,
			wantSpans: []string{"policygate.verify", "policygate.decide"}, tokenCacheHit: "false", decisionCache: "false", reason: "scopes_granted", tokenResult: "valid"},
		{name: "second_from_caches", path: "/api/private-scoped", token: scoped, wantStatus: 200,
			wantSpans: []string{"policygate.verify", "policygate.decide"}, tokenCacheHit: "true", decisionCache: "true", reason: "scopes_granted", tokenResult: "valid"},
		{name: "anonymous", path: "/api/private", wantStatus: 401,
			wantSpans: []string{"policygate.decide"}, decisionCache: "false", reason: "unauthenticated"},
		{name: "unknown_kid_fetches_keys", path: "/api/private", token: authntest.Sign(t, rotated, p.Claims()), wantStatus: 401,
			wantSpans: []string{"policygate.verify", "policygate.key_fetch", "policygate.decide"}, tokenCacheHit: "false", decisionCache: "true", reason: "unauthenticated", tokenResult: "invalid_token"}, // the anonymous decision, cached
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp.Reset()
			rec := s.get(t, tt.path, tt.token, "00-"+callerTrace+"-"+callerSpan+"-01")
			if rec.Code != tt.wantStatus {
				t.Fatalf("GET %s = %d, want %d", tt.path, rec.Code, tt.wantStatus)
			}
			spans := spanTree(t, exp.GetSpans())
			if len(spans) != len(tt.wantSpans)+1 {
				t.Errorf("spans = %v, want the server span and %v", names(exp.GetSpans()), tt.wantSpans)
			}
			server, ok := spans["GET"]
			if !ok {
				t.Fatalf("no server span named GET: %v", names(exp.GetSpans()))
			}
			// The caller's trace is continued.
			if server.SpanContext.TraceID().String() != callerTrace || server.Parent.SpanID().String() != callerSpan || !server.Parent.IsRemote() {
				t.Errorf("server span trace %s parent %s, want the caller's %s %s", server.SpanContext.TraceID(), server.Parent.SpanID(), callerTrace, callerSpan)
			}
			parents := map[string]string{"policygate.verify": "GET", "policygate.decide": "GET", "policygate.key_fetch": "policygate.verify"}
			for _, name := range tt.wantSpans {
				sp, ok := spans[name]
				if !ok {
					t.Errorf("no %s span: %v", name, names(exp.GetSpans()))
					continue
				}
				if want := spans[parents[name]].SpanContext.SpanID(); sp.Parent.SpanID() != want {
					t.Errorf("%s's parent = %s, want the %s span %s", name, sp.Parent.SpanID(), parents[name], want)
				}
			}
			if v, ok := spans["policygate.verify"]; ok {
				if attr(v, "policygate.token.cache_hit") != tt.tokenCacheHit || attr(v, "policygate.token.result") != tt.tokenResult {
					t.Errorf("verify span attributes = %v", v.Attributes)
				}
			}
			d := spans["policygate.decide"]
			if attr(d, "policygate.decision.cache_hit") != tt.decisionCache || attr(d, "policygate.decision.reason") != tt.reason ||
				attr(d, "policygate.decision.id") != rec.Header().Get("X-Decision-Id") || attr(d, "policygate.decision.id") == "" {
				t.Errorf("decide span attributes = %v (X-Decision-Id %s)", d.Attributes, rec.Header().Get("X-Decision-Id"))
			}
			noSecrets(t, exp.GetSpans(), tt.token, "alice")
		})
	}
}

func names(spans tracetest.SpanStubs) []string {
	out := make([]string, 0, len(spans))
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

// noSecrets fails when any span attribute, event or status holds the
// token, a piece of it, or one of the given values.
func noSecrets(t *testing.T, spans tracetest.SpanStubs, token string, values ...string) {
	t.Helper()
	var forbidden []string
	if token != "" {
		forbidden = append(forbidden, strings.Split(token, ".")...)
	}
	forbidden = append(forbidden, values...)
	forbidden = append(forbidden, "alice@example.com", "read:messages")
	for _, s := range spans {
		var texts []string
		for _, kv := range s.Attributes {
			texts = append(texts, string(kv.Key)+"="+kv.Value.String())
		}
		for _, e := range s.Events {
			texts = append(texts, e.Name)
			for _, kv := range e.Attributes {
				texts = append(texts, kv.Value.String())
			}
		}
		texts = append(texts, s.Status.Description)
		for _, text := range texts {
			for _, f := range forbidden {
				if f != "" && strings.Contains(text, f) {
					t.Errorf("span %s holds %q in %q", s.Name, f, text)
				}
			}
		}
	}
}

// The subject is recorded only when asked.
func TestTraceSubject(t *testing.T) {
	for _, subject := range []bool{false, true} {
		exp := tracetest.NewInMemoryExporter()
		s := newTraced(t, tracing.Config{Subject: subject}, exp, sdktrace.WithSyncer(exp))
		token := s.provider.Token(t, map[string]any{"sub": "bob"})
		if rec := s.get(t, "/api/private", token, ""); rec.Code != 200 {
			t.Fatalf("status %d", rec.Code)
		}
		got := attr(spanTree(t, exp.GetSpans())["policygate.verify"], "enduser.id")
		if want := map[bool]string{false: "", true: "bob"}[subject]; got != want {
			t.Errorf("Subject %v: enduser.id = %q, want %q", subject, got, want)
		}
		if !subject {
			noSecrets(t, exp.GetSpans(), token, "bob")
		}
	}
}

func TestEnabled(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want bool
	}{
		{name: "nothing", want: false},
		{name: "endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, want: true},
		{name: "traces_endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, want: true},
		{name: "sdk_disabled", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_SDK_DISABLED": "true"}, want: false},
		{name: "exporter_none", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_TRACES_EXPORTER": "none"}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tracing.Enabled(func(k string) string { return tt.env[k] }); got != tt.want {
				t.Errorf("Enabled() = %v, want %v", got, tt.want)
			}
		})
	}
}

// BenchmarkRequest compares a cached private-scoped request without
// tracing (nothing installed) and with tracing to an exporter that drops
// everything: the cost of the spans themselves.
func BenchmarkRequest(b *testing.B) {
	for _, mode := range []string{"off", "on"} {
		b.Run(mode, func(b *testing.B) {
			var s *traced
			if mode == "off" {
				s = newTraced(b, tracing.Config{}, nil)
			} else {
				exp := tracetest.NewNoopExporter()
				s = newTraced(b, tracing.Config{}, exp, sdktrace.WithBatcher(exp))
			}
			token := s.provider.Token(b, map[string]any{"scope": "read:messages"})
			req := httptest.NewRequest("GET", "/api/private-scoped", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				rec := httptest.NewRecorder()
				s.handler.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}
