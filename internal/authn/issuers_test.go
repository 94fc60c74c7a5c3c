package authn_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/authn/authntest"
)

// Audiences of the two-issuer tests: issuer A's API, and issuer B's two.
const (
	audA  = "https://a.api.test"
	audB1 = "https://b1.api.test"
	audB2 = "https://b2.api.test"
)

// runKeys runs a key set for p until the test ends; it does not wait.
func runKeys(t *testing.T, p *authntest.Provider) *authn.KeySet {
	t.Helper()
	keys := authn.NewKeySet(authn.KeySetConfig{JWKSURL: p.JWKSURL(), UnknownKIDInterval: time.Hour})
	authntest.RunKeys(t, keys)
	return keys
}

// twoIssuers returns two providers whose keys share the kid "key-1", and a
// verifier trusting A for audA and B for audB1 and audB2.
func twoIssuers(t *testing.T, cacheSize int) (a, b *authntest.Provider, keysA, keysB *authn.KeySet, v *authn.Verifier) {
	t.Helper()
	a, b = authntest.NewProvider(t), authntest.NewProvider(t)
	keysA, keysB = runKeys(t, a), runKeys(t, b)
	v, err := authn.NewMultiIssuerVerifier([]authn.IssuerConfig{
		{Issuer: a.Issuer, Audiences: []string{audA}, Algorithms: []string{"RS256"}, Keys: keysA},
		{Issuer: b.Issuer, Audiences: []string{audB1, audB2}, Algorithms: []string{"RS256"}, Keys: keysB},
	}, authn.VerifierConfig{ClockSkew: 30 * time.Second, CacheSize: cacheSize})
	if err != nil {
		t.Fatal(err)
	}
	return a, b, keysA, keysB, v
}

func TestTwoIssuers(t *testing.T) {
	for _, mode := range cacheModes {
		t.Run(mode.name, func(t *testing.T) {
			a, b, keysA, keysB, v := twoIssuers(t, mode.size)
			authntest.AwaitKeys(t, keysA)
			authntest.AwaitKeys(t, keysB)
			bOnly := authntest.NewKey(t, "key-b")
			b.SetKeys(b.Key(), bOnly)
			stranger := authntest.NewProvider(t)
			tests := []struct {
				name          string
				token         string
				wantErr       error
				wantIssuer    string
				wantAudiences []string
			}{
				{name: "issuer_a", token: a.Token(t, map[string]any{"aud": audA}), wantIssuer: a.Issuer, wantAudiences: []string{audA}},
				{name: "issuer_b_first_audience", token: b.Token(t, map[string]any{"aud": audB1}), wantIssuer: b.Issuer, wantAudiences: []string{audB1}},
				{name: "issuer_b_second_audience", token: b.Token(t, map[string]any{"aud": []string{"https://other", audB2}}), wantIssuer: b.Issuer, wantAudiences: []string{audB2}},
				{name: "issuer_b_both_audiences", token: b.Token(t, map[string]any{"aud": []string{audB2, audB1}}), wantIssuer: b.Issuer, wantAudiences: []string{audB1, audB2}},
				// A token for one issuer's audience is refused when another
				// issuer names it: audiences belong to their issuer.
				{name: "issuer_b_with_a_audience", token: b.Token(t, map[string]any{"aud": audA}), wantErr: authn.ErrInvalidToken},
				{name: "issuer_a_with_b_audience", token: a.Token(t, map[string]any{"aud": audB1}), wantErr: authn.ErrInvalidToken},
				// Key confusion: B's key under A's name, with the kid both
				// issuers use and with a kid only B has.
				{name: "iss_a_signed_by_b_shared_kid", token: authntest.Sign(t, b.Key(), withClaims(a, "aud", audA)), wantErr: authn.ErrInvalidToken},
				{name: "iss_a_signed_by_b_own_kid", token: authntest.Sign(t, bOnly, withClaims(a, "aud", audA)), wantErr: authn.ErrInvalidToken},
				{name: "iss_b_signed_by_a", token: authntest.Sign(t, a.Key(), withClaims(b, "aud", audB1)), wantErr: authn.ErrInvalidToken},
				{name: "unknown_issuer", token: stranger.Token(t, map[string]any{"aud": audA}), wantErr: authn.ErrInvalidToken},
				{name: "no_issuer", token: a.Token(t, map[string]any{"aud": audA, "iss": nil}), wantErr: authn.ErrInvalidToken},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					for pass := range 2 { // the second pass may come from the cache
						c, err := v.Verify(context.Background(), authn.Token(tt.token))
						if !errors.Is(err, tt.wantErr) {
							t.Fatalf("pass %d: Verify() = %v, want %v", pass, err, tt.wantErr)
						}
						if err != nil {
							continue
						}
						if c.Issuer != tt.wantIssuer || !slices.Equal(c.Audiences, tt.wantAudiences) {
							t.Errorf("pass %d: claims issuer %q audiences %q, want %q %q", pass, c.Issuer, c.Audiences, tt.wantIssuer, tt.wantAudiences)
						}
					}
				})
			}
			if n := stranger.JWKSRequests(); n != 0 {
				t.Errorf("an unknown issuer's key set got %d requests, want none", n)
			}
		})
	}
}

// withClaims is p's valid claims with name set to value.
func withClaims(p *authntest.Provider, name string, value any) map[string]any {
	c := p.Claims()
	c[name] = value
	return c
}

// TestIssuerCheckedBeforeKeyLookup: a token naming an unknown issuer, or
// naming A with a kid only B has, never makes the other issuer's key set
// fetch: the issuer picks the key set before any kid is looked up.
func TestIssuerCheckedBeforeKeyLookup(t *testing.T) {
	a, b, keysA, keysB, v := twoIssuers(t, 0)
	authntest.AwaitKeys(t, keysA)
	authntest.AwaitKeys(t, keysB)
	fetchesB := keysB.Fetches()
	bOnly := authntest.NewKey(t, "key-b")
	b.SetKeys(b.Key(), bOnly)
	for _, tok := range []string{
		authntest.Sign(t, bOnly, withClaims(a, "aud", audA)),
		authntest.Sign(t, bOnly, withClaims(a, "iss", "https://unknown.test/")),
	} {
		if _, err := v.Verify(context.Background(), authn.Token(tok)); !errors.Is(err, authn.ErrInvalidToken) {
			t.Errorf("Verify() = %v, want ErrInvalidToken", err)
		}
	}
	if n := keysB.Fetches() - fetchesB; n != 0 {
		t.Errorf("tokens not naming B made B's key set fetch %d times, want 0", n)
	}
}

func TestOneIssuerDown(t *testing.T) {
	t.Run("down_from_the_start", func(t *testing.T) {
		a, b := authntest.NewProvider(t), authntest.NewProvider(t)
		b.SetHandler(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) })
		keysA, keysB := runKeys(t, a), runKeys(t, b)
		v, err := authn.NewMultiIssuerVerifier([]authn.IssuerConfig{
			{Issuer: a.Issuer, Audiences: []string{audA}, Algorithms: []string{"RS256"}, Keys: keysA},
			{Issuer: b.Issuer, Audiences: []string{audB1}, Algorithms: []string{"RS256"}, Keys: keysB},
		}, authn.VerifierConfig{ClockSkew: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		authntest.AwaitKeys(t, keysA)
		if _, err := v.Verify(context.Background(), authn.Token(a.Token(t, map[string]any{"aud": audA}))); err != nil {
			t.Errorf("Verify(issuer A) while B is down = %v, want success", err)
		}
		if _, err := v.Verify(context.Background(), authn.Token(b.Token(t, map[string]any{"aud": audB1}))); !errors.Is(err, authn.ErrKeysUnavailable) {
			t.Errorf("Verify(issuer B) before its keys came = %v, want ErrKeysUnavailable", err)
		}
	})
	t.Run("down_later", func(t *testing.T) {
		a, b, keysA, keysB, v := twoIssuers(t, 0)
		authntest.AwaitKeys(t, keysA)
		authntest.AwaitKeys(t, keysB)
		b.SetHandler(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) })
		for _, tok := range []string{a.Token(t, map[string]any{"aud": audA}), b.Token(t, map[string]any{"aud": audB1})} {
			if _, err := v.Verify(context.Background(), authn.Token(tok)); err != nil {
				t.Errorf("Verify() with B down after its first fetch = %v, want success (keys kept)", err)
			}
		}
	})
}

// TestAttacksPerIssuer runs each issuer's attack catalogue through one
// verifier that trusts both: a second issuer opens no door in the first.
func TestAttacksPerIssuer(t *testing.T) {
	labs := []*attackLab{newAttackLab(t), newAttackLab(t)}
	var issuers []authn.IssuerConfig
	for _, lab := range labs {
		issuers = append(issuers, authn.IssuerConfig{
			Issuer: lab.p.Issuer, Audiences: []string{authntest.Audience}, Algorithms: []string{"RS256", "PS256", "ES256"}, Keys: lab.keys,
		})
	}
	for _, mode := range cacheModes {
		t.Run(mode.name, func(t *testing.T) {
			v, err := authn.NewMultiIssuerVerifier(issuers, authn.VerifierConfig{ClockSkew: 30 * time.Second, CacheSize: mode.size})
			if err != nil {
				t.Fatal(err)
			}
			for i, lab := range labs {
				t.Run([]string{"issuer_a", "issuer_b"}[i], func(t *testing.T) {
					runCatalogue(t, v, lab.catalogue(t, filepath.Join(t.TempDir(), "pwned")))
				})
			}
		})
	}
	for _, lab := range labs {
		if n := lab.evilHits.Load(); n != 0 {
			t.Errorf("the attacker's server got %d requests", n)
		}
	}
}

func TestMultiIssuerConfigErrors(t *testing.T) {
	keys := authn.NewKeySet(authn.KeySetConfig{JWKSURL: "https://idp.test/jwks.json"})
	good := authn.IssuerConfig{Issuer: "https://a.test/", Audiences: []string{audA}, Algorithms: []string{"RS256"}, Keys: keys}
	tests := []struct {
		name    string
		issuers []authn.IssuerConfig
	}{
		{"none", nil},
		{"twice", []authn.IssuerConfig{good, good}},
		{"no_audience", []authn.IssuerConfig{{Issuer: "https://a.test/", Algorithms: []string{"RS256"}, Keys: keys}}},
		{"empty_audience", []authn.IssuerConfig{{Issuer: "https://a.test/", Audiences: []string{""}, Algorithms: []string{"RS256"}, Keys: keys}}},
		{"no_keys", []authn.IssuerConfig{{Issuer: "https://a.test/", Audiences: []string{audA}, Algorithms: []string{"RS256"}}}},
		{"hmac", []authn.IssuerConfig{{Issuer: "https://a.test/", Audiences: []string{audA}, Algorithms: []string{"HS256"}, Keys: keys}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := authn.NewMultiIssuerVerifier(tt.issuers, authn.VerifierConfig{}); err == nil {
				t.Errorf("NewMultiIssuerVerifier(%s) succeeded, want an error", tt.name)
			}
		})
	}
}
