package api_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkForwardAuth is one /authz call as nginx makes it, with a
// replayed token, through the same stack as BenchmarkPrivateScoped (which
// it is compared with: docs/forward-auth.md).
func BenchmarkForwardAuth(b *testing.B) {
	s := newStack(b)
	tok := s.provider.Token(b, map[string]any{"scope": "read:messages"})
	req := httptest.NewRequest("GET", "/authz", nil)
	req.RemoteAddr = "127.0.0.1:40000"
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("X-Original-Method", "GET")
	req.Header.Set("X-Original-Uri", "/api/private-scoped?page=2")
	req.Header.Set("X-Original-Host", "api.example.com")
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		s.handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
	}
}
