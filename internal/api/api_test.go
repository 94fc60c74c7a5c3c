package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/policygate/policygate/internal/api"
	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/authn/authntest"
	"github.com/policygate/policygate/internal/authz"
	"github.com/policygate/policygate/internal/denial"
	"github.com/policygate/policygate/internal/gate"
)

// stack is the real service: router, gate, verifier with a JWKS served by
// httptest, and the OPA engine loading the shipped policies.
type stack struct {
	handler  http.Handler
	provider *authntest.Provider
	registry *prometheus.Registry
	gate     *gate.Gate // to build servers with other options
}

// The decision cache sizes the tests run with: on at the size the server
// uses, and off.
const (
	decisionCacheOn  = authz.DefaultDecisionCacheSize
	decisionCacheOff = -1
)

// decisionCacheModes run a test with the decision cache on and off, where
// a cached decision could change an answer: the cache must change none.
var decisionCacheModes = []struct {
	name string
	size int
}{{"decision_cache_on", decisionCacheOn}, {"decision_cache_off", decisionCacheOff}}

// newStack is the real service as the server runs it: token cache and
// decision cache on at their default sizes.
func newStack(t testing.TB) *stack {
	t.Helper()
	return newStackDecisions(t, decisionCacheOn)
}

// newStackDecisions is newStack with the given decision cache size.
func newStackDecisions(t testing.TB, decisionCacheSize int) *stack {
	t.Helper()
	p := authntest.NewProvider(t)
	s, _ := buildStack(t, p, stackConfig{
		keys:              authn.KeySetConfig{JWKSURL: p.JWKSURL()},
		tokenCacheSize:    authn.DefaultCacheSize,
		decisionCacheSize: decisionCacheSize,
	})
	return s
}

// stackConfig is what buildStack varies. Every size is set on purpose:
// 0 turns the token cache off.
type stackConfig struct {
	keys              authn.KeySetConfig
	tokenCacheSize    int          // authn.VerifierConfig.CacheSize; 0 is off
	decisionCacheSize int          // authz.Config.DecisionCacheSize; decisionCacheOn or decisionCacheOff
	logger            *slog.Logger // nil for none
}

// buildStack wires the real parts over p's keys: a key set, a verifier,
// the engine on the shipped policies, the gate and the router, with the
// caches and logger of cfg.
func buildStack(t testing.TB, p *authntest.Provider, cfg stackConfig) (*stack, *authn.KeySet) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	keys := authn.NewKeySet(cfg.keys)
	authntest.RunKeys(t, keys)
	v, err := authn.NewVerifier(keys, authn.VerifierConfig{
		Issuer: p.Issuer, Audience: authntest.Audience, Algorithms: []string{"RS256"},
		ClockSkew: 30 * time.Second, CacheSize: cfg.tokenCacheSize,
	})
	if err != nil {
		t.Fatal(err)
	}
	engine, err := authz.New(ctx, authz.Config{PolicyDir: "../../policies", DecisionCacheSize: cfg.decisionCacheSize})
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
	reg := prometheus.NewRegistry()
	g := gate.New(v, engine, gate.WithObserver(api.NewDecisionMetrics(reg)), gate.WithAllowCheck(denial.CheckIdentity))
	h := api.NewServer(api.Options{Gate: g, Registry: reg, Realm: "test", Logger: cfg.logger})
	return &stack{handler: h, provider: p, registry: reg, gate: g}, keys
}

type response struct {
	status int
	header http.Header
	body   map[string]any
}

func (s *stack) do(t *testing.T, method, path string, header http.Header) response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)
	res := response{status: rec.Code, header: rec.Header()}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" && rec.Code != http.StatusOK {
		t.Errorf("%s %s: Content-Type = %q, want application/json", method, path, ct)
	}
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(rec.Body.Bytes(), &res.body); err != nil {
			t.Errorf("%s %s: body %q is not JSON: %v", method, path, rec.Body.String(), err)
		}
	}
	return res
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// TestHTTPContract is the built-in routes' contract: status, error code,
// description and challenge for every credential and route the shipped
// policy knows.
func TestHTTPContract(t *testing.T) {
	for _, mode := range decisionCacheModes {
		t.Run(mode.name, func(t *testing.T) { testHTTPContract(t, newStackDecisions(t, mode.size)) })
	}
}

func testHTTPContract(t *testing.T, s *stack) {
	p := s.provider
	plain := p.Token(t, nil)
	scoped := p.Token(t, map[string]any{"scope": "openid read:messages"})
	rbac := p.Token(t, map[string]any{"permissions": []string{"read:messages"}})
	expired := p.Token(t, map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})
	future := p.Token(t, map[string]any{"nbf": time.Now().Add(time.Hour).Unix()})
	wrongIss := p.Token(t, map[string]any{"iss": "https://evil.example.com/"})
	wrongAud := p.Token(t, map[string]any{"aud": "https://other.example.com"})
	forged := authntest.Sign(t, authntest.NewKey(t, "key-1"), p.Claims())
	caseScope := p.Token(t, map[string]any{"scope": "Read:messages read:messages:all"})

	tests := []struct {
		name       string
		method     string
		path       string
		header     http.Header
		wantStatus int
		wantError  string // JSON "error"; "" for 2xx
		wantChal   string // substring of WWW-Authenticate; "-" for none
	}{
		{"public_anonymous", "GET", "/api/public", nil, 200, "", "-"},
		{"public_bad_token_ignored", "GET", "/api/public", bearer("garbage"), 200, "", "-"},
		{"public_malformed_ignored", "GET", "/api/public", bearer("a b"), 200, "", "-"},
		{"private_valid", "GET", "/api/private", bearer(plain), 200, "", "-"},
		{"private_no_credentials", "GET", "/api/private", nil, 401, "unauthorized", `Bearer realm="test"`},
		{"private_blank_header", "GET", "/api/private", http.Header{"Authorization": {""}}, 401, "unauthorized", `Bearer realm="test"`},
		{"private_expired", "GET", "/api/private", bearer(expired), 401, "invalid_token", `error="invalid_token"`},
		{"private_not_yet_valid", "GET", "/api/private", bearer(future), 401, "invalid_token", `error="invalid_token"`},
		{"private_wrong_issuer", "GET", "/api/private", bearer(wrongIss), 401, "invalid_token", `error="invalid_token"`},
		{"private_wrong_audience", "GET", "/api/private", bearer(wrongAud), 401, "invalid_token", `error="invalid_token"`},
		{"private_wrong_signature", "GET", "/api/private", bearer(forged), 401, "invalid_token", `error="invalid_token"`},
		{"private_garbage", "GET", "/api/private", bearer("not-a-jwt"), 401, "invalid_token", `error="invalid_token"`},
		{"bearer_nothing_after", "GET", "/api/private", http.Header{"Authorization": {"Bearer "}}, 401, "invalid_request", `error="invalid_request"`},
		{"bearer_two_parts", "GET", "/api/private", http.Header{"Authorization": {"Bearer a b"}}, 401, "invalid_request", `error="invalid_request"`},
		{"not_bearer", "GET", "/api/private", http.Header{"Authorization": {"Basic dXNlcjpwYXNz"}}, 401, "invalid_request", `error="invalid_request"`},
		{"two_headers", "GET", "/api/private", http.Header{"Authorization": {"Bearer " + plain, "Bearer " + plain}}, 401, "invalid_request", `error="invalid_request"`},
		{"scheme_lower_case", "GET", "/api/private", http.Header{"Authorization": {"bearer " + plain}}, 200, "", "-"},
		{"scheme_upper_case", "GET", "/api/private", http.Header{"Authorization": {"BEARER " + plain}}, 200, "", "-"},
		{"query_token_not_read", "GET", "/api/private?access_token=" + plain, nil, 401, "unauthorized", `Bearer realm="test"`},
		{"scoped_with_scope_claim", "GET", "/api/private-scoped", bearer(scoped), 200, "", "-"},
		{"scoped_with_permissions", "GET", "/api/private-scoped", bearer(rbac), 200, "", "-"},
		{"scoped_without_scope", "GET", "/api/private-scoped", bearer(plain), 403, "insufficient_scope", `error="insufficient_scope", error_description="GET /api/private-scoped requires scope read:messages", scope="read:messages"`},
		{"scoped_case_and_prefix", "GET", "/api/private-scoped", bearer(caseScope), 403, "insufficient_scope", `scope="read:messages"`},
		{"scoped_no_credentials", "GET", "/api/private-scoped", nil, 401, "unauthorized", `Bearer realm="test"`},
		{"unknown_route", "GET", "/api/nope", nil, 404, "not_found", "-"},
		{"wrong_method", "POST", "/api/private", bearer(plain), 405, "method_not_allowed", "-"},
		{"healthz", "GET", "/healthz", nil, 200, "", "-"},
		{"readyz", "GET", "/readyz", nil, 200, "", "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := s.do(t, tt.method, tt.path, tt.header)
			if res.status != tt.wantStatus {
				t.Fatalf("%s %s = %d %v, want %d", tt.method, tt.path, res.status, res.body, tt.wantStatus)
			}
			if tt.wantError != "" {
				if res.body["error"] != tt.wantError {
					t.Errorf("error = %v, want %q", res.body["error"], tt.wantError)
				}
				if d, _ := res.body["error_description"].(string); d == "" {
					t.Errorf("error_description is empty in %v", res.body)
				}
			} else if tt.wantStatus == 200 && strings.HasPrefix(tt.path, "/api/") {
				if m, _ := res.body["message"].(string); m == "" {
					t.Errorf("body %v has no message", res.body)
				}
			}
			chal := res.header.Get("WWW-Authenticate")
			switch {
			case tt.wantChal == "-" && chal != "":
				t.Errorf("WWW-Authenticate = %q, want none", chal)
			case tt.wantChal != "-" && !strings.Contains(chal, tt.wantChal):
				t.Errorf("WWW-Authenticate = %q, want it to contain %q", chal, tt.wantChal)
			}
			if tt.wantError == "unauthorized" && strings.Contains(chal, "error=") {
				t.Errorf("WWW-Authenticate = %q: no error code without credentials (RFC 6750 3.1)", chal)
			}
			if tt.name == "wrong_method" && res.header.Get("Allow") != "GET" {
				t.Errorf("Allow = %q, want GET", res.header.Get("Allow"))
			}
		})
	}
}

// TestDecisionIDHeader: every decision, a cached one too, carries an id of
// its own.
func TestDecisionIDHeader(t *testing.T) {
	for _, mode := range decisionCacheModes {
		t.Run(mode.name, func(t *testing.T) { testDecisionIDHeader(t, newStackDecisions(t, mode.size)) })
	}
}

func testDecisionIDHeader(t *testing.T, s *stack) {
	tok := s.provider.Token(t, nil)
	var ids []string
	for range 2 { // the second is a cache hit when the cache is on
		res := s.do(t, "GET", "/api/private-scoped", bearer(tok))
		id := res.header.Get("X-Decision-Id")
		if res.status != 403 || id == "" {
			t.Errorf("status %d, X-Decision-Id %q; want 403 with a decision id", res.status, id)
		}
		ids = append(ids, id)
	}
	if ids[0] == ids[1] {
		t.Errorf("X-Decision-Id %q twice, want a fresh id per decision", ids[0])
	}
}

func TestMetrics(t *testing.T) {
	s := newStack(t)
	s.do(t, "GET", "/api/public", nil)
	s.do(t, "GET", "/api/private", nil)
	req := httptest.NewRequest("GET", "/metrics", nil)
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`policygate_http_requests_total{method="GET",route="/api/public",status="200"} 1`,
		`policygate_http_requests_total{method="GET",route="/api/private",status="401"} 1`,
		`policygate_decisions_total{reason="public",result="allowed"} 1`,
		`policygate_decisions_total{reason="unauthenticated",result="denied"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestReadyzNotReady(t *testing.T) {
	h := api.NewServer(api.Options{Readiness: []api.ReadinessCheck{
		{Name: "keys", Check: func() error { return io.ErrUnexpectedEOF }},
	}})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "unexpected EOF") {
		t.Errorf("/readyz = %d %s, want 503 naming the failing check", rec.Code, rec.Body.String())
	}
}

// BenchmarkPrivateScoped is GET /api/private-scoped on the stack as the
// server runs it, with a replayed token: a token cache hit and a decision
// cache hit (BenchmarkRequest/token_cache_off pays the signature check).
func BenchmarkPrivateScoped(b *testing.B) {
	s := newStack(b)
	tok := s.provider.Token(b, map[string]any{"scope": "read:messages"})
	req := httptest.NewRequest("GET", "/api/private-scoped", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		s.handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
	}
}
