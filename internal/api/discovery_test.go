package api_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/policygate/policygate/internal/api"
	"github.com/policygate/policygate/internal/authn/authntest"
)

var errNotReady = errors.New("not ready")

// resource is a protected resource whose scopes come from scopes.
func resource(publicURL string, scopes func(context.Context) ([]string, error)) *api.ProtectedResource {
	p := &api.ProtectedResource{
		Resource:             authntest.Audience,
		PublicURL:            publicURL,
		Identifiers:          []string{authntest.Audience, "https://api.policygate.test/mcp", "plain-identifier"},
		AuthorizationServers: []string{"https://idp.example.com/"},
		Scopes:               scopes,
		ErrNotReady:          errNotReady,
		Documentation:        "https://docs.example.com/api",
	}
	if publicURL != "" {
		p.Resource = publicURL
	}
	return p
}

func fixedScopes(s ...string) func(context.Context) ([]string, error) {
	return func(context.Context) ([]string, error) { return s, nil }
}

func TestDiscoveryDocument(t *testing.T) {
	s := newStack(t)
	h := api.NewServer(api.Options{Gate: s.gate, Realm: "test", CORSOrigins: []string{"https://app.example.com"},
		Resource: resource("", fixedScopes("read:messages", "write:messages"))})
	notReady := api.NewServer(api.Options{Gate: s.gate, Realm: "test",
		Resource: resource("", func(context.Context) ([]string, error) { return nil, errNotReady })})
	tests := []struct {
		name         string
		handler      http.Handler
		path         string
		wantStatus   int
		wantResource string
	}{
		{name: "root", handler: h, path: "/.well-known/oauth-protected-resource", wantStatus: 200, wantResource: authntest.Audience},
		{name: "path_suffixed", handler: h, path: "/.well-known/oauth-protected-resource/mcp", wantStatus: 200, wantResource: "https://api.policygate.test/mcp"},
		{name: "path_suffixed_trailing_slash", handler: h, path: "/.well-known/oauth-protected-resource/mcp/", wantStatus: 200, wantResource: "https://api.policygate.test/mcp"},
		{name: "unknown_suffix", handler: h, path: "/.well-known/oauth-protected-resource/other", wantStatus: 404},
		{name: "identifier_not_a_url", handler: h, path: "/.well-known/oauth-protected-resource/plain-identifier", wantStatus: 404},
		{name: "policy_not_ready", handler: notReady, path: "/.well-known/oauth-protected-resource", wantStatus: 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &stack{handler: tt.handler}
			res := st.do(t, "GET", tt.path, http.Header{"Origin": {"https://app.example.com"}})
			if res.status != tt.wantStatus {
				t.Fatalf("GET %s = %d %v, want %d", tt.path, res.status, res.body, tt.wantStatus)
			}
			if tt.wantStatus == 503 && res.header.Get("Retry-After") == "" {
				t.Errorf("503 without Retry-After")
			}
			if tt.wantStatus != 200 {
				return
			}
			b := res.body
			if b["resource"] != tt.wantResource || join(b["authorization_servers"]) != "https://idp.example.com/" ||
				join(b["scopes_supported"]) != "read:messages write:messages" || join(b["bearer_methods_supported"]) != "header" ||
				b["resource_documentation"] != "https://docs.example.com/api" {
				t.Errorf("GET %s = %v", tt.path, b)
			}
			if got := res.header.Get("Access-Control-Allow-Origin"); got != "https://app.example.com" {
				t.Errorf("Access-Control-Allow-Origin = %q, want the allowed origin (CORS as the other routes)", got)
			}
		})
	}
	// Without a resource, nothing is published.
	if res := s.do(t, "GET", "/.well-known/oauth-protected-resource", nil); res.status != 404 {
		t.Errorf("without Resource: %d, want 404", res.status)
	}
}

func join(v any) string {
	list, _ := v.([]any)
	parts := make([]string, 0, len(list))
	for _, x := range list {
		s, _ := x.(string)
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

// With PUBLIC_URL, every 401 and insufficient_scope 403 names the
// metadata document, built from PUBLIC_URL and never from Host; the realm
// stays first and the status codes do not change.
func TestChallengesNameResourceMetadata(t *testing.T) {
	s := newStack(t)
	p := s.provider
	withPublic := &stack{handler: api.NewServer(api.Options{Gate: s.gate, Realm: "test",
		Resource: resource("https://api.policygate.test/mcp", fixedScopes("read:messages"))})}
	without := &stack{handler: api.NewServer(api.Options{Gate: s.gate, Realm: "test",
		Resource: resource("", fixedScopes("read:messages"))})}
	const meta = `resource_metadata="https://api.policygate.test/.well-known/oauth-protected-resource/mcp"`
	plain := p.Token(t, nil)
	expired := p.Token(t, map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})
	tests := []struct {
		name       string
		path       string
		header     http.Header
		wantStatus int
		wantChal   string // the whole challenge with PUBLIC_URL; "" for none
	}{
		{name: "no_token", path: "/api/private", wantStatus: 401, wantChal: `Bearer realm="test", ` + meta},
		{name: "malformed", path: "/api/private", header: http.Header{"Authorization": {"Bearer a b"}}, wantStatus: 401,
			wantChal: `Bearer realm="test", error="invalid_request", error_description="bearer token must be a single token68 value", ` + meta},
		{name: "invalid_token", path: "/api/private", header: bearer(expired), wantStatus: 401,
			wantChal: `Bearer realm="test", error="invalid_token", error_description="token has expired", ` + meta},
		{name: "insufficient_scope", path: "/api/private-scoped", header: bearer(plain), wantStatus: 403,
			wantChal: `Bearer realm="test", error="insufficient_scope", error_description="GET /api/private-scoped requires scope read:messages", scope="read:messages", ` + meta},
		{name: "refused_path", path: "/api/private/..", wantStatus: 404},
		{name: "host_is_never_used", path: "http://evil.example.com/api/private", header: http.Header{"X-Forwarded-Host": {"evil.example.com"}}, wantStatus: 401,
			wantChal: `Bearer realm="test", ` + meta},
		{name: "allowed", path: "/api/private", header: bearer(plain), wantStatus: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := withPublic.do(t, "GET", tt.path, tt.header)
			if res.status != tt.wantStatus || res.header.Get("WWW-Authenticate") != tt.wantChal {
				t.Errorf("GET %s = %d %q, want %d %q", tt.path, res.status, res.header.Get("WWW-Authenticate"), tt.wantStatus, tt.wantChal)
			}
			res = without.do(t, "GET", tt.path, tt.header)
			if res.status != tt.wantStatus || strings.Contains(res.header.Get("WWW-Authenticate"), "resource_metadata") {
				t.Errorf("without PUBLIC_URL: GET %s = %d %q, want %d and no resource_metadata", tt.path, res.status, res.header.Get("WWW-Authenticate"), tt.wantStatus)
			}
		})
	}
}

// Every face (built-in routes, /authz forward-auth, proxy mode) names the
// metadata document in its 401 and insufficient_scope 403 challenges; proxy
// mode serves the document itself.
func TestChallengesOnEveryFace(t *testing.T) {
	for _, mode := range decisionCacheModes {
		t.Run(mode.name, func(t *testing.T) { testChallengesOnEveryFace(t, mode.size) })
	}
}

func testChallengesOnEveryFace(t *testing.T, decisionCacheSize int) {
	p := authntest.NewProvider(t)
	g := facesGate(t, p, policyWith(t, facesRoutes), decisionCacheSize, prometheus.NewRegistry())
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("upstream")) }))
	t.Cleanup(upstream.Close)
	u, _ := url.Parse(upstream.URL)
	res := resource("https://api.policygate.test", fixedScopes("read:messages"))
	faces := map[string]http.Handler{
		"builtin":      api.NewServer(api.Options{Gate: g, Realm: "test", Resource: res}),
		"forward_auth": api.NewServer(api.Options{Gate: g, Realm: "test", Resource: res}),
		"proxy":        api.NewServer(api.Options{Gate: g, Realm: "test", Resource: res, Proxy: &api.ProxyOptions{Upstream: u}}),
	}
	const meta = `, resource_metadata="https://api.policygate.test/.well-known/oauth-protected-resource"`
	plain := p.Token(t, nil)
	expired := p.Token(t, map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})
	tests := []struct {
		name       string
		auth       string
		wantStatus int
		wantChal   string
	}{
		{name: "no_token", wantStatus: 401, wantChal: `Bearer realm="test"` + meta},
		{name: "malformed", auth: "Bearer a b", wantStatus: 401, wantChal: `Bearer realm="test", error="invalid_request", error_description="bearer token must be a single token68 value"` + meta},
		{name: "invalid_token", auth: "Bearer " + expired, wantStatus: 401, wantChal: `Bearer realm="test", error="invalid_token", error_description="token has expired"` + meta},
		{name: "insufficient_scope", auth: "Bearer " + plain, wantStatus: 403,
			wantChal: `Bearer realm="test", error="insufficient_scope", error_description="GET /api/private-scoped requires scope read:messages", scope="read:messages"` + meta},
	}
	for face, h := range faces {
		for _, tt := range tests {
			t.Run(face+"/"+tt.name, func(t *testing.T) {
				req := httptest.NewRequest("GET", "/api/private-scoped", nil)
				if face == "forward_auth" {
					req = httptest.NewRequest("GET", "/authz", nil)
					req.Header.Set("X-Forwarded-Method", "GET")
					req.Header.Set("X-Forwarded-Uri", "/api/private-scoped")
					req.Header.Set("X-Forwarded-Host", "api.policygate.test")
				}
				req.RemoteAddr = "127.0.0.1:40000"
				if tt.auth != "" {
					req.Header.Set("Authorization", tt.auth)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != tt.wantStatus || rec.Header().Get("WWW-Authenticate") != tt.wantChal {
					t.Errorf("%s: %d %q, want %d %q", face, rec.Code, rec.Header().Get("WWW-Authenticate"), tt.wantStatus, tt.wantChal)
				}
			})
		}
	}
	// Proxy mode answers the well-known path itself (it shadows the
	// upstream's copy).
	st := &stack{handler: faces["proxy"]}
	if r := st.do(t, "GET", "/.well-known/oauth-protected-resource", nil); r.status != 200 || r.body["resource"] != "https://api.policygate.test" {
		t.Errorf("proxy mode metadata = %d %v", r.status, r.body)
	}
}
