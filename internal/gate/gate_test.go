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
	return nil, &authn.Error{Err: authn.ErrInvalidToken, Description: "nope"}
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

// countingObserver records what the gate reports.
type countingObserver struct{ seen []string }

func (c *countingObserver) ObserveDecision(result, reason string) {
	c.seen = append(c.seen, result+"/"+reason)
}

// allowingDecider allows everything with a reason of its choice.
type allowingDecider struct{ reason string }

func (a allowingDecider) Decide(context.Context, authz.Input) (authz.Decision, error) {
	return authz.Decision{Allowed: true, Reason: a.reason, ID: "d1"}, nil
}

func TestCheckCountsOnce(t *testing.T) {
	tests := []struct {
		name       string
		decider    gate.Decider
		allowCheck func(gate.Outcome) error
		req        gate.Request
		wantKind   gate.Kind
		wantSeen   string
	}{
		{name: "allowed", decider: allowingDecider{"public"}, req: gate.Request{Method: "GET", Path: "/a"},
			wantKind: gate.Allowed, wantSeen: "allowed/public"},
		{name: "unknown_reason_clamped", decider: allowingDecider{"made_up"}, req: gate.Request{Method: "GET", Path: "/a"},
			wantKind: gate.Allowed, wantSeen: "allowed/other"},
		{name: "engine_error", decider: failingDecider{errors.New("boom")}, req: gate.Request{Method: "GET", Path: "/a"},
			wantKind: gate.Forbidden, wantSeen: "error/policy_error"},
		{name: "bad_path", decider: allowingDecider{"public"}, req: gate.Request{Method: "GET", Path: "/a/../b"},
			wantKind: gate.Refused, wantSeen: "denied/invalid_path"},
		{name: "lower_case_method", decider: allowingDecider{"public"}, req: gate.Request{Method: "get", Path: "/a"},
			wantKind: gate.Refused, wantSeen: "denied/invalid_method"},
		{name: "bad_host", decider: allowingDecider{"public"}, req: gate.Request{Method: "GET", Host: "a.example.", Path: "/a"},
			wantKind: gate.Refused, wantSeen: "denied/invalid_host"},
		{name: "identity_unsendable", decider: allowingDecider{"public"}, req: gate.Request{Method: "GET", Path: "/a"},
			allowCheck: func(gate.Outcome) error { return errors.New("too big") },
			wantKind:   gate.Refused, wantSeen: "error/invalid_identity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs := &countingObserver{}
			opts := []gate.Option{gate.WithObserver(obs)}
			if tt.allowCheck != nil {
				opts = append(opts, gate.WithAllowCheck(tt.allowCheck))
			}
			out := gate.New(noVerifier{}, tt.decider, opts...).Check(context.Background(), tt.req)
			if out.Kind != tt.wantKind || len(obs.seen) != 1 || obs.seen[0] != tt.wantSeen {
				t.Errorf("Check() = %v, observed %q; want %v, observed [%s]", out.Kind, obs.seen, tt.wantKind, tt.wantSeen)
			}
		})
	}
}

func TestCheckNormalisesHost(t *testing.T) {
	out := gate.New(noVerifier{}, allowingDecider{"public"}).Check(context.Background(),
		gate.Request{Method: "GET", Host: "API.Example.com:8443", Path: "/a"})
	if out.Kind != gate.Allowed || out.Host != "api.example.com" {
		t.Errorf("Check() = %v host %q, want allowed for api.example.com", out.Kind, out.Host)
	}
}

func TestRefuseCounts(t *testing.T) {
	obs := &countingObserver{}
	out := gate.New(noVerifier{}, allowingDecider{}, gate.WithObserver(obs)).Refuse(gate.ReasonRequestInfo, "two header families")
	if out.Kind != gate.Refused || !slices.Equal(obs.seen, []string{"denied/invalid_request_info"}) {
		t.Errorf("Refuse() = %v, observed %q", out.Kind, obs.seen)
	}
}

// TestClampKeepsPolicyReasons: every reason of the shipped policy is a
// metric label of its own.
func TestClampKeepsPolicyReasons(t *testing.T) {
	for _, r := range authz.Reasons() {
		if got := gate.ClampReason(r); got != r {
			t.Errorf("ClampReason(%q) = %q", r, got)
		}
	}
	if got := gate.ClampReason("made_up"); got != gate.ReasonOther {
		t.Errorf(`ClampReason("made_up") = %q, want other`, got)
	}
}
