package gate_test

import (
	"context"
	"testing"

	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/authz"
	"github.com/policygate/policygate/internal/gate"
)

type claimsVerifier struct{}

func (claimsVerifier) Verify(context.Context, authn.Token) (*authn.Claims, error) {
	return authn.UnverifiedClaims([]byte(`{"sub": "a"}`))
}

// fixedDecider denies for missing scopes on the given routes.
type fixedDecider struct{ routes, required []string }

func (f fixedDecider) Decide(context.Context, authz.Input) (authz.Decision, error) {
	return authz.Decision{Reason: "insufficient_scope", Routes: f.routes, RequiredScopes: f.required, MissingScopes: f.required}, nil
}

// The 403 names the rule in words: method, route, scopes.
func TestInsufficientScopeDescription(t *testing.T) {
	tests := []struct {
		name             string
		method           string
		routes, required []string
		want             string
	}{
		{name: "one_scope", method: "GET", routes: []string{"/api/private-scoped"}, required: []string{"read:messages"},
			want: "GET /api/private-scoped requires scope read:messages"},
		{name: "pattern_route_two_scopes", method: "DELETE", routes: []string{"/orders/{id}"}, required: []string{"orders:admin", "orders:write"},
			want: "DELETE /orders/{id} requires scopes orders:admin orders:write"},
		{name: "two_routes", method: "GET", routes: []string{"/files/*", "/files/{name}"}, required: []string{"read:files"},
			want: "GET /files/* and /files/{name} requires scope read:files"},
		{name: "no_route_named", method: "GET", required: []string{"x"}, want: "the access token lacks a required scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := gate.New(claimsVerifier{}, fixedDecider{routes: tt.routes, required: tt.required})
			out := g.Check(context.Background(), gate.Request{Method: tt.method, Path: "/x", Authorization: []string{"Bearer t"}})
			if out.Kind != gate.InsufficientScope || out.Description != tt.want {
				t.Errorf("Check() = %v %q, want insufficient_scope %q", out.Kind, out.Description, tt.want)
			}
		})
	}
}
