package gate_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/authz"
	"github.com/policygate/policygate/internal/gate"
)

func TestSplitPath(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"/", []string{}, false},
		{"/api/private", []string{"api", "private"}, false},
		{"/api/caf%C3%A9", []string{"api", "café"}, false},
		{"/api/a%20b", []string{"api", "a b"}, false},
		{"", nil, true},
		{"api", nil, true},
		{"/api//private", nil, true},
		{"/api/private/", nil, true},
		{"/api/./private", nil, true},
		{"/api/../admin", nil, true},
		{"/api/%2e%2e/admin", nil, true},
		{"/api/a%2Fb", nil, true},
		{"/api/a%5Cb", nil, true},
		{"/api/%00", nil, true},
		{"/api/%zz", nil, true},
	}
	for _, tt := range tests {
		got, err := gate.SplitPath(tt.in)
		if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
			t.Errorf("SplitPath(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

// failingDecider injects an engine fault.
type failingDecider struct{ err error }

func (f failingDecider) Decide(context.Context, authz.Input) (authz.Decision, error) {
	return authz.Decision{}, f.err
}

type noVerifier struct{}

func (noVerifier) Verify(context.Context, authn.Token) (*authn.Claims, error) {
	return nil, &authn.Error{Kind: authn.ErrInvalidToken, Description: "nope"}
}

func TestCheckFailsClosed(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want gate.Kind
	}{
		{"engine_error", errors.New("eval_conflict_error"), gate.Forbidden},
		{"policy_not_ready", authz.ErrNotReady, gate.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := gate.New(noVerifier{}, failingDecider{tt.err})
			out := g.Check(context.Background(), gate.Request{Method: "GET", Path: "/api/public"})
			if out.Kind != tt.want {
				t.Errorf("Check() = %v, want %v", out.Kind, tt.want)
			}
		})
	}
}

func TestCheckBadPath(t *testing.T) {
	g := gate.New(noVerifier{}, failingDecider{})
	out := g.Check(context.Background(), gate.Request{Method: "GET", Path: "/api/../admin"})
	if out.Kind != gate.Refused {
		t.Errorf("Check(dot segment) = %v, want refused", out.Kind)
	}
}
