package api

import (
	"strings"
	"testing"
)

// TestDeclaredSpellingsFollowTheSet: the remembered spellings are those of
// the declared set asked for, also when the set changes (a new policy
// version) and changes back.
func TestDeclaredSpellingsFollowTheSet(t *testing.T) {
	s := &server{}
	sets := []struct {
		declared []string
		want     string
	}{
		{declared: nil, want: ""},
		{declared: []string{"X-Auth-Email"}, want: ",x_auth_email,x-auth_email,x_auth-email"},
		{declared: []string{"X-Auth-Email", "X-Tenant"}, want: ",x_auth_email,x-auth_email,x_auth-email,x_tenant"},
		{declared: []string{"X-Auth-Email"}, want: ",x_auth_email,x-auth_email,x_auth-email"},
		{declared: []string{"X-Tenant"}, want: ",x_tenant"},
		{declared: []string{}, want: ""},
	}
	for i, tc := range sets {
		for range 2 { // computed, then remembered
			if got := s.declaredSpellings(tc.declared); got != tc.want {
				t.Fatalf("set %d %q: declaredSpellings() = %q, want %q", i, tc.declared, got, tc.want)
			}
		}
	}
	// The remembered set is a copy: changing the caller's slice later
	// does not change what it matches.
	declared := []string{"X-Auth-Email"}
	s.declaredSpellings(declared)
	declared[0] = "X-Other"
	if got := s.declaredSpellings([]string{"X-Other"}); !strings.Contains(got, "x_other") {
		t.Errorf("declaredSpellings(X-Other) = %q after the caller's slice changed, want its own spellings", got)
	}
}
