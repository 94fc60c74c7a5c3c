package api_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/authn/authntest"
)

// BenchmarkRequest is one whole GET /api/private-scoped through the router,
// the gate, the verifier and the OPA engine, at LOG_LEVEL=info as shipped (to
// io.Discard). With the token cache off every request pays the signature
// check, as with a new token each time; with it on, the token is replayed.
// The decision cache is on in both, as the server runs.
// Profile it to see where a request's time goes:
//
//	go test -run '^$' -bench 'Request/token_cache_off' -cpuprofile cpu.out ./internal/api
func BenchmarkRequest(b *testing.B) {
	for _, bc := range tokenCacheModes {
		b.Run(bc.name, func(b *testing.B) {
			p := authntest.NewProvider(b)
			s, _ := buildStack(b, p, stackConfig{keys: authn.KeySetConfig{JWKSURL: p.JWKSURL()},
				tokenCacheSize: bc.size, decisionCacheSize: decisionCacheOn, logger: infoToDiscard()})
			req := httptest.NewRequest("GET", "/api/private-scoped", nil)
			req.Header.Set("Authorization", "Bearer "+p.Token(b, map[string]any{"scope": "openid read:messages"}))
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				s.handler.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
				}
			}
		})
	}
}

// infoToDiscard logs at info, as shipped, to io.Discard.
func infoToDiscard() *slog.Logger {
	return slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
}
