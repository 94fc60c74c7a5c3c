package api_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/authn/authntest"
)

// BenchmarkForwardAuth is one /authz call as nginx makes it, with a
// replayed token, beside GET /api/private-scoped on the same stack (what
// BenchmarkPrivateScoped measures), with the token cache off (every call
// checks the signature) and on (the server's default).
func BenchmarkForwardAuth(b *testing.B) {
	for _, bc := range tokenCacheModes {
		p := authntest.NewProvider(b)
		s, _ := buildStack(b, p, stackConfig{keys: authn.KeySetConfig{JWKSURL: p.JWKSURL()},
			tokenCacheSize: bc.size, decisionCacheSize: decisionCacheOn})
		auth := "Bearer " + p.Token(b, map[string]any{"scope": "read:messages"})
		fa := httptest.NewRequest("GET", "/authz", nil)
		fa.RemoteAddr = "127.0.0.1:40000"
		fa.Header.Set("Authorization", auth)
		fa.Header.Set("X-Original-Method", "GET")
		fa.Header.Set("X-Original-Uri", "/api/private-scoped?page=2")
		fa.Header.Set("X-Original-Host", "api.example.com")
		ps := httptest.NewRequest("GET", "/api/private-scoped", nil)
		ps.Header.Set("Authorization", auth)
		for _, req := range []struct {
			name string
			r    *http.Request
		}{{"authz", fa}, {"private_scoped", ps}} {
			b.Run(bc.name+"/"+req.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					rec := httptest.NewRecorder()
					s.handler.ServeHTTP(rec, req.r)
					if rec.Code != http.StatusOK {
						b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
					}
				}
			})
		}
	}
}
