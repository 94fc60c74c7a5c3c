package authz_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/authn/authntest"
	"github.com/policygate/policygate/internal/authz"
)

// A decision made with the claims behind a ClaimSource, here a token
// cache's claims that hold the payload as text only, logs the claims as
// a decision made with them in Claims does: the policy on the route reads
// none, but the log records the whole input.
func TestDecisionLogClaimSource(t *testing.T) {
	p := authntest.NewProvider(t)
	keys := authn.NewKeySet(authn.KeySetConfig{JWKSURL: p.JWKSURL()})
	authntest.StartKeys(t, keys)
	v, err := authn.NewVerifier(keys, authn.VerifierConfig{
		Issuer: p.Issuer, Audience: authntest.Audience, Algorithms: []string{"RS256"}, CacheSize: authn.DefaultCacheSize,
	})
	if err != nil {
		t.Fatal(err)
	}
	const email = "alice@example.com"
	tok := authn.Token(p.Token(t, map[string]any{"scope": "read:messages", "email": email}))
	fresh, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	cached, err := v.Verify(context.Background(), tok) // from the token cache
	if err != nil {
		t.Fatal(err)
	}
	if cached == fresh {
		t.Fatal("the second Verify returned the first's claims, not the token cache's")
	}

	e, console := loggingEngine(t)

	sources := []struct {
		name   string
		claims *authn.Claims
	}{
		{name: "fresh", claims: fresh},
		{name: "cached", claims: cached},
	}
	for _, s := range sources {
		t.Run(s.name, func(t *testing.T) {
			console.Reset()
			in := authz.Input{Method: "GET", Path: []string{"api", "private"}, ClaimSource: s.claims, Scopes: s.claims.Scopes, Issuer: s.claims.Issuer}
			d, err := e.Decide(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			if !d.Allowed {
				t.Errorf("decision = %+v, want allowed as authenticated", d)
			}
			if bytes.Contains(console.Bytes(), []byte(email)) {
				t.Errorf("decision log contains the claim value %q:\n%s", email, console.String())
			}
			events := decisionLines(t, console.String())
			if len(events) != 1 {
				t.Fatalf("got %d decision-log lines, want 1:\n%s", len(events), console.String())
			}
			input, _ := events[0]["input"].(map[string]any)
			if input["authenticated"] != true {
				t.Errorf("logged authenticated = %v, want true", input["authenticated"])
			}
			logged, _ := input["claims"].(map[string]any)
			if logged["sub"] != "auth0|alice" || logged["scope"] != "read:messages" || logged["iss"] != p.Issuer {
				t.Errorf("logged claims = %v, want sub, scope and iss kept", input["claims"])
			}
			if logged["email"] != "**REDACTED**" {
				t.Errorf("logged claims[email] = %v, want **REDACTED**", logged["email"])
			}
		})
	}
}
