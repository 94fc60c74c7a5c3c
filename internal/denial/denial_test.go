package denial_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/policygate/policygate/internal/denial"
	"github.com/policygate/policygate/internal/gate"
)

func TestRender(t *testing.T) {
	tests := []struct {
		name          string
		out           gate.Outcome
		status        int
		code          string
		challenge     string // "" when none
		retryAfter    string
		scopeInBody   string
		resourceMeta  string
		wantInChallng string
	}{
		{name: "no_token", out: gate.Outcome{Kind: gate.Unauthenticated, Description: "an access token is required"},
			status: 401, code: "unauthorized", challenge: `Bearer realm="api"`},
		{name: "malformed", out: gate.Outcome{Kind: gate.InvalidRequest, Description: "bad header"},
			status: 401, code: "invalid_request", challenge: `Bearer realm="api", error="invalid_request", error_description="bad header"`},
		{name: "invalid_token", out: gate.Outcome{Kind: gate.InvalidToken, Description: `token "expired"`},
			status: 401, code: "invalid_token", challenge: `Bearer realm="api", error="invalid_token", error_description="token 'expired'"`},
		{name: "insufficient_scope", out: gate.Outcome{Kind: gate.InsufficientScope, Description: "needs scope", Scopes: []string{"a", "b"}},
			status: 403, code: "insufficient_scope", scopeInBody: "a b",
			challenge: `Bearer realm="api", error="insufficient_scope", error_description="needs scope", scope="a b"`},
		{name: "access_denied", out: gate.Outcome{Kind: gate.Forbidden}, status: 403, code: "access_denied"},
		{name: "refused", out: gate.Outcome{Kind: gate.Refused, Description: "path has a dot segment"}, status: 403, code: "invalid_request"},
		{name: "unavailable", out: gate.Outcome{Kind: gate.Unavailable}, status: 503, code: "temporarily_unavailable", retryAfter: "5"},
		{name: "unknown_kind_fails_closed", out: gate.Outcome{Kind: gate.Kind(99)}, status: 403, code: "access_denied"},
		{name: "allowed_is_no_denial", out: gate.Outcome{Kind: gate.Allowed}, status: 403, code: "access_denied"},
		{name: "resource_metadata", out: gate.Outcome{Kind: gate.Unauthenticated}, resourceMeta: "https://api.example.com/.well-known/oauth-protected-resource",
			status: 401, code: "unauthorized", challenge: `Bearer realm="api", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := denial.NewRenderer("api", tt.resourceMeta).Render(tt.out)
			if got.Status != tt.status || got.Challenge != tt.challenge || got.RetryAfter != tt.retryAfter {
				t.Errorf("Render() = %d %q retry %q, want %d %q retry %q", got.Status, got.Challenge, got.RetryAfter, tt.status, tt.challenge, tt.retryAfter)
			}
			var body denial.Body
			if err := json.Unmarshal(got.Body, &body); err != nil || !strings.HasSuffix(string(got.Body), "\n") {
				t.Fatalf("body %q: %v", got.Body, err)
			}
			if body.Error != tt.code || body.Description == "" || body.Scope != tt.scopeInBody {
				t.Errorf("body = %+v, want error %q, a description, scope %q", body, tt.code, tt.scopeInBody)
			}
		})
	}
}

func TestIdentity(t *testing.T) {
	tests := []struct {
		name    string
		out     gate.Outcome
		set     string // "Name=Value;..." in order
		remove  string
		wantErr bool
	}{
		{name: "full", out: gate.Outcome{Subject: "alice", Granted: []string{"a", "b"}, Issuer: "https://idp/", DecisionID: "d1"},
			set: "X-Auth-Subject=alice;X-Auth-Scopes=a b;X-Auth-Issuer=https://idp/;X-Decision-Id=d1;"},
		{name: "anonymous", out: gate.Outcome{DecisionID: "d2"},
			set: "X-Decision-Id=d2;", remove: "X-Auth-Subject X-Auth-Scopes X-Auth-Issuer"},
		{name: "newline_in_subject", out: gate.Outcome{Subject: "a\r\nX-Evil: 1"}, wantErr: true},
		{name: "non_ascii_subject", out: gate.Outcome{Subject: "zoë"}, wantErr: true},
		{name: "leading_space", out: gate.Outcome{Subject: " a"}, wantErr: true},
		{name: "too_large", out: gate.Outcome{Subject: strings.Repeat("a", denial.MaxIdentityBytes)}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, remove, err := denial.Identity(tt.out)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Identity() error = %v, want error %v", err, tt.wantErr)
			}
			var b strings.Builder
			for _, h := range set {
				b.WriteString(h.Name + "=" + h.Value + ";")
			}
			if b.String() != tt.set || strings.Join(remove, " ") != tt.remove {
				t.Errorf("Identity() = %q remove %q, want %q remove %q", b.String(), strings.Join(remove, " "), tt.set, tt.remove)
			}
		})
	}
}

// TestCheckIdentityAgrees: the gate's check refuses exactly what Identity
// cannot send.
func TestCheckIdentityAgrees(t *testing.T) {
	outs := []gate.Outcome{
		{}, {Subject: "alice", DecisionID: "d"}, {Granted: []string{""}}, {Granted: []string{"", ""}},
		{Granted: []string{"a", ""}}, {Granted: []string{" a"}}, {Granted: []string{"a", "b\t"}},
		{Granted: []string{"a\x00"}}, {Granted: []string{"zoë"}}, {Granted: []string{"a b", "c"}},
		{Issuer: "https://idp/\r\n"}, {DecisionID: " x"}, {Subject: strings.Repeat("a", denial.MaxIdentityBytes-20)},
		{Granted: []string{strings.Repeat("a", denial.MaxIdentityBytes/2), strings.Repeat("b", denial.MaxIdentityBytes/2)}},
	}
	for _, out := range outs {
		_, _, err := denial.Identity(out)
		if got := denial.CheckIdentity(out); (got == nil) != (err == nil) {
			t.Errorf("CheckIdentity(%+v) = %v, Identity error %v", out, got, err)
		}
	}
}
