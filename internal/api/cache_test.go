package api_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/authn/authntest"
)

// A token served from the verifier's cache must stop working as soon as
// the key set no longer holds its signing key, as it would without the cache.
func TestRotatedKeyStopsReplayedToken(t *testing.T) {
	for _, mode := range []struct {
		name      string
		cacheSize int
	}{{"cache_off", -1}, {"cache_on", authn.DefaultCacheSize}} {
		t.Run(mode.name, func(t *testing.T) {
			p := authntest.NewProvider(t)
			p.SetMaxAge(0) // the key set refreshes every MinRefresh
			h, keys := cachingServer(t, p, authn.KeySetConfig{
				JWKSURL: p.JWKSURL(), MinRefresh: 10 * time.Millisecond, UnknownKIDInterval: 10 * time.Millisecond,
			}, mode.cacheSize)
			tok := p.Token(t, map[string]any{"scope": "read:messages"})
			get := func() int {
				req := httptest.NewRequest("GET", "/api/private-scoped", nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				return rec.Code
			}
			for i := range 3 { // the later ones replay a cached token when on
				if code := get(); code != http.StatusOK {
					t.Fatalf("request %d = %d, want 200", i+1, code)
				}
			}
			p.SetKeys(authntest.NewKey(t, "key-2"))
			before := keys.Fetches()
			deadline := time.Now().Add(10 * time.Second)
			for keys.Fetches() < before+2 { // one fetch started after the change has finished
				if time.Now().After(deadline) {
					t.Fatal("key set did not refresh")
				}
				time.Sleep(5 * time.Millisecond)
			}
			if code := get(); code != http.StatusUnauthorized {
				t.Errorf("token of a removed key = %d, want 401", code)
			}
		})
	}
}
