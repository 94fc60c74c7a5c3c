package api_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/authn/authntest"
	"github.com/policygate/policygate/internal/testwait"
)

// tokenCacheModes run a test with the token cache off and on.
var tokenCacheModes = []struct {
	name string
	size int
}{{"token_cache_off", 0}, {"token_cache_on", authn.DefaultCacheSize}}

// A token served from the verifier's cache must stop working as soon as
// the key set no longer holds its signing key, as it would without the
// cache, whether or not its decision is cached.
func TestRotatedKeyStopsReplayedToken(t *testing.T) {
	for _, tokens := range tokenCacheModes {
		for _, decisions := range decisionCacheModes {
			t.Run(tokens.name+"/"+decisions.name, func(t *testing.T) {
				testRotatedKeyStopsReplayedToken(t, tokens.size, decisions.size)
			})
		}
	}
}

func testRotatedKeyStopsReplayedToken(t *testing.T, tokenCacheSize, decisionCacheSize int) {
	p := authntest.NewProvider(t)
	p.SetMaxAge(0) // the key set refreshes every MinRefresh
	s, keys := buildStack(t, p, stackConfig{
		keys:           authn.KeySetConfig{JWKSURL: p.JWKSURL(), MinRefresh: 10 * time.Millisecond, UnknownKIDInterval: 10 * time.Millisecond},
		tokenCacheSize: tokenCacheSize, decisionCacheSize: decisionCacheSize, logger: infoToDiscard(),
	})
	h := s.handler
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
	// One fetch started after the change has finished.
	if !testwait.Until(10*time.Second, func() bool { return keys.Fetches() >= before+2 }) {
		t.Fatalf("key set did not refresh within 10s: %v", keys.LastError())
	}
	if code := get(); code != http.StatusUnauthorized {
		t.Errorf("token of a removed key = %d, want 401", code)
	}
}
