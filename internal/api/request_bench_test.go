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
// Profile it to see where a request's time goes:
//
//	go test -run '^$' -bench 'Request/token_cache_off' -cpuprofile cpu.out ./internal/api
func BenchmarkRequest(b *testing.B) {
	for _, bc := range []struct {
		name      string
		cacheSize int
	}{{"token_cache_off", -1}, {"token_cache_on", authn.DefaultCacheSize}} {
		b.Run(bc.name, func(b *testing.B) {
			h, tok := benchServer(b, bc.cacheSize)
			req := httptest.NewRequest("GET", "/api/private-scoped", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
				}
			}
		})
	}
}

func benchServer(b *testing.B, cacheSize int) (http.Handler, string) {
	p := authntest.NewProvider(b)
	h, _ := cachingServer(b, p, authn.KeySetConfig{JWKSURL: p.JWKSURL()}, cacheSize)
	return h, p.Token(b, map[string]any{"scope": "openid read:messages"})
}

// cachingServer is the real stack over p's keys with the given token cache
// size, logging at info to io.Discard.
func cachingServer(b testing.TB, p *authntest.Provider, keysCfg authn.KeySetConfig, cacheSize int) (http.Handler, *authn.KeySet) {
	logger := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s, keys := buildStack(b, p, keysCfg, cacheSize, logger)
	return s.handler, keys
}
