package authz

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
)

// countingSource is a ClaimSource that counts how often it is asked.
type countingSource struct {
	m     map[string]any
	calls atomic.Int64
}

func (s *countingSource) Payload() map[string]any {
	s.calls.Add(1)
	return s.m
}

// A decision made with the claims behind a ClaimSource is the decision
// made with them in Claims, cache on or off; the shipped policy on routes
// that bind no claim never asks for them.
func TestClaimSourceDecidesAsClaims(t *testing.T) {
	shipped, err := os.ReadFile("../../policies/authz/authz.rego")
	if err != nil {
		t.Fatal(err)
	}
	bound := map[string]string{
		"authz/authz.rego": string(shipped),
		"authz/data.json": `{"routes": {
			"/api/private": {"GET": {"access": "authenticated"}},
			"/users/{id}": {"GET": {"access": "authenticated", "claims": {"sub": {"equals_param": "id"}}}}
		}}`,
	}
	claims := []map[string]any{{"sub": "alice"}, {"sub": "bob", "x": 1}, {}, {"sub": nil}}
	paths := [][]string{{"api", "public"}, {"api", "private"}, {"api", "private-scoped"}, {"users", "alice"}, {"users", "bob"}}
	policies := []struct {
		name      string
		files     map[string]string
		dir       string
		neverAsks bool // the policy reads no claim on these routes
	}{
		{name: "shipped", dir: "../../policies", neverAsks: true},
		{name: "shipped_claim_bound", files: bound},
		{name: "claims_sub", files: decisionRego(subRego)},
		{name: "whole_input", files: decisionRego(wholeRego)},
	}
	for _, p := range policies {
		for _, size := range []int{DefaultDecisionCacheSize, -1} {
			t.Run(fmt.Sprintf("%s/cache_%d", p.name, size), func(t *testing.T) {
				e := engineFor(t, p.files, Config{PolicyDir: p.dir, DecisionCacheSize: size})
				for _, path := range paths {
					for i, m := range claims {
						base := Input{Method: "GET", Path: path, Scopes: []string{"read:messages"}}
						withMap, withSource := base, base
						withMap.Claims = m
						src := &countingSource{m: m}
						withSource.ClaimSource = src
						want, got := decide(t, e, withMap), decide(t, e, withSource)
						want.ID, got.ID = "", ""
						if fmt.Sprint(got) != fmt.Sprint(want) {
							t.Errorf("%v claims %d: with ClaimSource %+v, with Claims %+v", path, i, got, want)
						}
						if n := src.calls.Load(); n > 1 || p.neverAsks && n > 0 {
							t.Errorf("%v claims %d: Payload() called %d times", path, i, n)
						}
					}
				}
			})
		}
	}
}

// nilSource has no payload to give.
type nilSource struct{}

func (nilSource) Payload() map[string]any { return nil }

// A ClaimSource with no payload fails a decision that reads claims (the
// caller denies) rather than deciding as if the token had none.
func TestClaimSourceWithoutPayloadFailsClosed(t *testing.T) {
	e := engineFor(t, decisionRego(wholeRego), Config{DecisionCacheSize: -1})
	in := Input{Method: "GET", Path: []string{"api", "private"}, ClaimSource: nilSource{}}
	if d, err := e.Decide(context.Background(), in); err == nil {
		t.Errorf("Decide() = %+v, nil; want an error", d)
	}
}
