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

// The auth states a request can be in, as Authorization header values.
// fakeVerifier answers each token the way authn.Verifier does for a token
// of that kind.
var authStates = map[string][]string{
	"no_credentials":   nil,
	"malformed_header": {"Basic dXNlcjpwYXNz"},
	"invalid_token":    {"Bearer expired"},
	"keys_unavailable": {"Bearer keys-down"},
	"valid_token":      {"Bearer valid"},
}

// fakeVerifier stands in for authn.Verifier: no key set, no signatures,
// just the answer for each kind of token, faults included.
type fakeVerifier struct{}

func (fakeVerifier) Verify(_ context.Context, tok authn.Token) (*authn.Claims, error) {
	switch tok {
	case "valid":
		// As the verifier reads a payload: subject, issuer and scopes.
		return authn.UnverifiedClaims([]byte(`{"sub": "alice", "iss": "https://idp.example.com/", "scope": "openid read:messages"}`))
	case "keys-down":
		return nil, &authn.Error{Err: authn.ErrKeysUnavailable, Description: "signing keys are not available yet"}
	default:
		return nil, &authn.Error{Err: authn.ErrInvalidToken, Description: "token has expired"}
	}
}

// policyOutcomes are what the policy can answer: a decision for each
// reason of authz.Reasons(), an engine error, and not ready.
func policyOutcomes() map[string]fakeDecider {
	out := map[string]fakeDecider{
		"engine_error":     {err: errors.New("eval_conflict_error")},
		"policy_not_ready": {err: authz.ErrNotReady},
	}
	for _, r := range authz.Reasons() {
		d := authz.Decision{ID: "d-1", Reason: r, Routes: []string{"/api/private-scoped"}}
		switch r {
		case authz.ReasonPublic, authz.ReasonAuthenticated, authz.ReasonScopesGranted:
			d.Allowed = true
		case authz.ReasonInsufficientScope:
			d.RequiredScopes, d.AnyScopes, d.MissingScopes = []string{"read:messages"}, []string{"admin", "read:messages"}, []string{"read:messages"}
		case authz.ReasonClaimMismatch:
			d.FailedClaims = []string{"sub"}
		}
		out[r] = fakeDecider{decision: d}
	}
	return out
}

// fakeDecider stands in for authz.Engine: a fixed answer, and the input
// it was asked about.
type fakeDecider struct {
	decision authz.Decision
	err      error
	asked    *authz.Input
}

func (f *fakeDecider) Decide(_ context.Context, in authz.Input) (authz.Decision, error) {
	f.asked = &in
	return f.decision, f.err
}

// TestCheckSpec is the gate's contract, the one every face translates:
// for each auth state and each policy answer, the outcome's kind and
// reason, whether it describes itself, the scopes a challenge names, and
// whether it carries the token's identity. A bad or malformed token is
// ignored when the policy allows without one (a public route); otherwise
// an authentication failure outranks the policy's reason; an engine error
// or a policy not ready outranks everything. Only a valid token reaches
// the policy as claims.
func TestCheckSpec(t *testing.T) {
	scopes := []string{"admin", "read:messages"} // required and any-of, united
	tests := []struct {
		auth       string // key of authStates
		policy     string // key of policyOutcomes
		wantKind   gate.Kind
		wantReason string
		wantScopes []string
		wantIdent  bool // Subject, Issuer and Granted of the token
	}{
		{auth: "no_credentials", policy: "public", wantKind: gate.Allowed, wantReason: "public"},
		{auth: "no_credentials", policy: "authenticated", wantKind: gate.Allowed, wantReason: "authenticated"},
		{auth: "no_credentials", policy: "scopes_granted", wantKind: gate.Allowed, wantReason: "scopes_granted"},
		{auth: "no_credentials", policy: "unauthenticated", wantKind: gate.Unauthenticated, wantReason: "unauthenticated"},
		{auth: "no_credentials", policy: "issuer_not_accepted", wantKind: gate.Forbidden, wantReason: "issuer_not_accepted"},
		{auth: "no_credentials", policy: "audience_not_accepted", wantKind: gate.Forbidden, wantReason: "audience_not_accepted"},
		{auth: "no_credentials", policy: "insufficient_scope", wantKind: gate.InsufficientScope, wantReason: "insufficient_scope", wantScopes: scopes},
		{auth: "no_credentials", policy: "claim_mismatch", wantKind: gate.Forbidden, wantReason: "claim_mismatch"},
		{auth: "no_credentials", policy: "denied_by_policy", wantKind: gate.Forbidden, wantReason: "denied_by_policy"},
		{auth: "no_credentials", policy: "no_route", wantKind: gate.Forbidden, wantReason: "no_route"},
		{auth: "no_credentials", policy: "invalid_rule", wantKind: gate.Forbidden, wantReason: "invalid_rule"},
		{auth: "no_credentials", policy: "engine_error", wantKind: gate.Forbidden, wantReason: gate.ReasonPolicyError},
		{auth: "no_credentials", policy: "policy_not_ready", wantKind: gate.Unavailable, wantReason: gate.ReasonPolicyNotReady},

		{auth: "malformed_header", policy: "public", wantKind: gate.Allowed, wantReason: "public"},
		{auth: "malformed_header", policy: "authenticated", wantKind: gate.Allowed, wantReason: "authenticated"},
		{auth: "malformed_header", policy: "scopes_granted", wantKind: gate.Allowed, wantReason: "scopes_granted"},
		{auth: "malformed_header", policy: "unauthenticated", wantKind: gate.InvalidRequest, wantReason: gate.ReasonInvalidRequest},
		{auth: "malformed_header", policy: "issuer_not_accepted", wantKind: gate.InvalidRequest, wantReason: gate.ReasonInvalidRequest},
		{auth: "malformed_header", policy: "audience_not_accepted", wantKind: gate.InvalidRequest, wantReason: gate.ReasonInvalidRequest},
		{auth: "malformed_header", policy: "insufficient_scope", wantKind: gate.InvalidRequest, wantReason: gate.ReasonInvalidRequest},
		{auth: "malformed_header", policy: "claim_mismatch", wantKind: gate.InvalidRequest, wantReason: gate.ReasonInvalidRequest},
		{auth: "malformed_header", policy: "denied_by_policy", wantKind: gate.InvalidRequest, wantReason: gate.ReasonInvalidRequest},
		{auth: "malformed_header", policy: "no_route", wantKind: gate.InvalidRequest, wantReason: gate.ReasonInvalidRequest},
		{auth: "malformed_header", policy: "invalid_rule", wantKind: gate.InvalidRequest, wantReason: gate.ReasonInvalidRequest},
		{auth: "malformed_header", policy: "engine_error", wantKind: gate.Forbidden, wantReason: gate.ReasonPolicyError},
		{auth: "malformed_header", policy: "policy_not_ready", wantKind: gate.Unavailable, wantReason: gate.ReasonPolicyNotReady},

		{auth: "invalid_token", policy: "public", wantKind: gate.Allowed, wantReason: "public"},
		{auth: "invalid_token", policy: "authenticated", wantKind: gate.Allowed, wantReason: "authenticated"},
		{auth: "invalid_token", policy: "scopes_granted", wantKind: gate.Allowed, wantReason: "scopes_granted"},
		{auth: "invalid_token", policy: "unauthenticated", wantKind: gate.InvalidToken, wantReason: gate.ReasonInvalidToken},
		{auth: "invalid_token", policy: "issuer_not_accepted", wantKind: gate.InvalidToken, wantReason: gate.ReasonInvalidToken},
		{auth: "invalid_token", policy: "audience_not_accepted", wantKind: gate.InvalidToken, wantReason: gate.ReasonInvalidToken},
		{auth: "invalid_token", policy: "insufficient_scope", wantKind: gate.InvalidToken, wantReason: gate.ReasonInvalidToken},
		{auth: "invalid_token", policy: "claim_mismatch", wantKind: gate.InvalidToken, wantReason: gate.ReasonInvalidToken},
		{auth: "invalid_token", policy: "denied_by_policy", wantKind: gate.InvalidToken, wantReason: gate.ReasonInvalidToken},
		{auth: "invalid_token", policy: "no_route", wantKind: gate.InvalidToken, wantReason: gate.ReasonInvalidToken},
		{auth: "invalid_token", policy: "invalid_rule", wantKind: gate.InvalidToken, wantReason: gate.ReasonInvalidToken},
		{auth: "invalid_token", policy: "engine_error", wantKind: gate.Forbidden, wantReason: gate.ReasonPolicyError},
		{auth: "invalid_token", policy: "policy_not_ready", wantKind: gate.Unavailable, wantReason: gate.ReasonPolicyNotReady},

		{auth: "keys_unavailable", policy: "public", wantKind: gate.Allowed, wantReason: "public"},
		{auth: "keys_unavailable", policy: "authenticated", wantKind: gate.Allowed, wantReason: "authenticated"},
		{auth: "keys_unavailable", policy: "scopes_granted", wantKind: gate.Allowed, wantReason: "scopes_granted"},
		{auth: "keys_unavailable", policy: "unauthenticated", wantKind: gate.Unavailable, wantReason: gate.ReasonKeysNotReady},
		{auth: "keys_unavailable", policy: "issuer_not_accepted", wantKind: gate.Unavailable, wantReason: gate.ReasonKeysNotReady},
		{auth: "keys_unavailable", policy: "audience_not_accepted", wantKind: gate.Unavailable, wantReason: gate.ReasonKeysNotReady},
		{auth: "keys_unavailable", policy: "insufficient_scope", wantKind: gate.Unavailable, wantReason: gate.ReasonKeysNotReady},
		{auth: "keys_unavailable", policy: "claim_mismatch", wantKind: gate.Unavailable, wantReason: gate.ReasonKeysNotReady},
		{auth: "keys_unavailable", policy: "denied_by_policy", wantKind: gate.Unavailable, wantReason: gate.ReasonKeysNotReady},
		{auth: "keys_unavailable", policy: "no_route", wantKind: gate.Unavailable, wantReason: gate.ReasonKeysNotReady},
		{auth: "keys_unavailable", policy: "invalid_rule", wantKind: gate.Unavailable, wantReason: gate.ReasonKeysNotReady},
		{auth: "keys_unavailable", policy: "engine_error", wantKind: gate.Forbidden, wantReason: gate.ReasonPolicyError},
		{auth: "keys_unavailable", policy: "policy_not_ready", wantKind: gate.Unavailable, wantReason: gate.ReasonPolicyNotReady},

		{auth: "valid_token", policy: "public", wantKind: gate.Allowed, wantReason: "public", wantIdent: true},
		{auth: "valid_token", policy: "authenticated", wantKind: gate.Allowed, wantReason: "authenticated", wantIdent: true},
		{auth: "valid_token", policy: "scopes_granted", wantKind: gate.Allowed, wantReason: "scopes_granted", wantIdent: true},
		{auth: "valid_token", policy: "unauthenticated", wantKind: gate.Unauthenticated, wantReason: "unauthenticated", wantIdent: true},
		{auth: "valid_token", policy: "issuer_not_accepted", wantKind: gate.Forbidden, wantReason: "issuer_not_accepted", wantIdent: true},
		{auth: "valid_token", policy: "audience_not_accepted", wantKind: gate.Forbidden, wantReason: "audience_not_accepted", wantIdent: true},
		{auth: "valid_token", policy: "insufficient_scope", wantKind: gate.InsufficientScope, wantReason: "insufficient_scope", wantScopes: scopes, wantIdent: true},
		{auth: "valid_token", policy: "claim_mismatch", wantKind: gate.Forbidden, wantReason: "claim_mismatch", wantIdent: true},
		{auth: "valid_token", policy: "denied_by_policy", wantKind: gate.Forbidden, wantReason: "denied_by_policy", wantIdent: true},
		{auth: "valid_token", policy: "no_route", wantKind: gate.Forbidden, wantReason: "no_route", wantIdent: true},
		{auth: "valid_token", policy: "invalid_rule", wantKind: gate.Forbidden, wantReason: "invalid_rule", wantIdent: true},
		{auth: "valid_token", policy: "engine_error", wantKind: gate.Forbidden, wantReason: gate.ReasonPolicyError},
		{auth: "valid_token", policy: "policy_not_ready", wantKind: gate.Unavailable, wantReason: gate.ReasonPolicyNotReady},
	}

	outcomes := policyOutcomes()
	// The table is the whole product: a new auth state or policy reason
	// must be given its outcomes here.
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.auth+"/"+tt.policy] = true
	}
	for auth := range authStates {
		for policy := range outcomes {
			if !seen[auth+"/"+policy] {
				t.Errorf("no row for auth %s and policy %s", auth, policy)
			}
		}
	}

	for _, tt := range tests {
		t.Run(tt.auth+"/"+tt.policy, func(t *testing.T) {
			header, ok := authStates[tt.auth]
			decider, ok2 := outcomes[tt.policy]
			if !ok || !ok2 {
				t.Fatalf("unknown auth %q or policy %q", tt.auth, tt.policy)
			}
			out := gate.New(fakeVerifier{}, &decider).Check(context.Background(),
				gate.Request{Method: "GET", Host: "api.example.com", Path: "/api/private-scoped", Authorization: header})

			if out.Kind != tt.wantKind || out.Reason != tt.wantReason {
				t.Errorf("Check() = %v (reason %q), want %v (reason %q)", out.Kind, out.Reason, tt.wantKind, tt.wantReason)
			}
			if allowed := out.Kind == gate.Allowed; allowed == (out.Description != "") {
				t.Errorf("Description = %q for %v: want one on every denial, none on an allow", out.Description, out.Kind)
			}
			if !slices.Equal(out.Scopes, tt.wantScopes) {
				t.Errorf("Scopes = %q, want %q", out.Scopes, tt.wantScopes)
			}
			ident := out.Subject != "" || out.Issuer != "" || len(out.Granted) > 0
			if tt.wantIdent && (out.Subject != "alice" || out.Issuer != "https://idp.example.com/" || !slices.Equal(out.Granted, []string{"openid", "read:messages"})) ||
				!tt.wantIdent && ident {
				t.Errorf("identity = %q, %q, %q; want the token's: %v", out.Subject, out.Issuer, out.Granted, tt.wantIdent)
			}
			if engineFault := tt.policy == "engine_error"; engineFault != (out.Err != nil) {
				t.Errorf("Err = %v, want one exactly for an engine error", out.Err)
			}
			decided := decider.err == nil
			if decided != (out.DecisionID == "d-1") {
				t.Errorf("DecisionID = %q, want the policy's exactly when it decided", out.DecisionID)
			}
			// The policy hears of claims only from a valid token.
			if in := decider.asked; in == nil {
				t.Error("the policy was not asked")
			} else if valid := tt.auth == "valid_token"; valid != (in.ClaimSource != nil) || in.Claims != nil || valid != (in.Issuer != "") || valid != (len(in.Scopes) > 0) {
				t.Errorf("policy input claims %v, issuer %q, scopes %q; want them exactly for a valid token", in.ClaimSource, in.Issuer, in.Scopes)
			}
		})
	}
}
