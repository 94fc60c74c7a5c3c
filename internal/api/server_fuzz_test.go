package api_test

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/policygate/policygate/internal/api"
	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/authn/authntest"
)

// FuzzServer sends any request Go's server would parse to the whole main
// listener (built-in routes, /authz's three families, CORS), with or
// without a valid token: every answer is a decision or a refusal, never a
// panic and never a 5xx other than 503 (keys or policy not ready).
func FuzzServer(f *testing.F) {
	p := authntest.NewProvider(f)
	s, _ := buildStack(f, p, stackConfig{keys: authn.KeySetConfig{JWKSURL: p.JWKSURL()}, tokenCacheSize: authn.DefaultCacheSize, decisionCacheSize: decisionCacheOn})
	h := api.NewServer(api.Options{Gate: s.gate, Realm: "test", CORSOrigins: []string{"https://app.example"},
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	token := p.Token(f, map[string]any{"scope": "read:messages  a\u0000 b", "permissions": []any{"x", 1}})
	for _, seed := range []string{
		"GET /api/public HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /authz HTTP/1.1\r\nHost: a\r\nX-Original-URL: https://b/api/private?x\r\nX-Original-Method: GET\r\n\r\n",
		"PROPFIND /authz/api/private HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer x\r\n\r\n",
		"OPTIONS /api/private HTTP/1.1\r\nHost: a\r\nOrigin: https://app.example\r\nAccess-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: authorization, x-a\r\n\r\n",
		"GET /authz HTTP/1.1\r\nHost: a\r\nX-Forwarded-Method: GET\r\nX-Forwarded-Uri: /api/x;y/%2e%2e/z?_method=PUT\r\nX-Forwarded-Host: B:80\r\n\r\n",
		"GET /api/private-scoped HTTP/1.1\r\nHost: admin.example.com.\r\nX_Auth_Subject: root\r\n\r\n",
	} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	f.Fuzz(func(t *testing.T, raw string, withToken bool) {
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return // Go's server answers it itself
		}
		req.RemoteAddr = "127.0.0.1:1234"
		if withToken {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Errorf("%q: status %d %q", raw, rec.Code, rec.Body)
		}
	})
}
