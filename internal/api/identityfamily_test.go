package api

import (
	"strings"
	"testing"

	"github.com/policygate/policygate/internal/denial"
)

// Proxy mode strips client headers by its own copy of the identity family
// rule; the other faces use denial's. Both must answer alike.
func TestIdentityFamilyAgrees(t *testing.T) {
	names := []string{"", "x", "x-auth-", "x_auth_", "X-Auth-S", "x_auth_s", "x-auth-subject", "X_Auth_Subject",
		"x-auth_subject", "X_AUTH-SCOPES", "x-decision-id", "x_decision_id", "X-Decision_Id", "x_decision_id_",
		"x_decision_i", "x-authsubject", "x_authx_subject", "x-request-id", "x_request_id", "authorization",
		":authority", "y-auth-subject", "x-auth-tenant", "x_auth_tenant", "X-Auth-" + strings.Repeat("a", 100)}
	for _, name := range names {
		if got, want := denial.IdentityFamily(name), isIdentityName(name); got != want {
			t.Errorf("denial.IdentityFamily(%q) = %v, proxy mode's isIdentityName = %v", name, got, want)
		}
	}
}
