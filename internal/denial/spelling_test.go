package denial_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/policygate/policygate/internal/denial"
)

func TestIdentityFamily(t *testing.T) {
	tests := []struct {
		name           string
		header         string
		wantFamily     bool
		wantUnderscore bool
	}{
		{name: "subject", header: "x-auth-subject", wantFamily: true},
		{name: "subject_canonical", header: "X-Auth-Subject", wantFamily: true},
		{name: "subject_underscores", header: "x_auth_subject", wantFamily: true, wantUnderscore: true},
		{name: "subject_mixed_case", header: "X_Auth_Subject", wantFamily: true, wantUnderscore: true},
		{name: "subject_mixed_separators", header: "x-auth_subject", wantFamily: true, wantUnderscore: true},
		{name: "subject_mixed_separators_2", header: "X_AUTH-SUBJECT", wantFamily: true, wantUnderscore: true},
		{name: "decision_id", header: "x-decision-id", wantFamily: true},
		{name: "decision_id_underscores", header: "x_decision_id", wantFamily: true, wantUnderscore: true},
		{name: "decision_id_mixed", header: "X-Decision_Id", wantFamily: true, wantUnderscore: true},
		{name: "declared", header: "x_auth_tenant", wantFamily: true, wantUnderscore: true},
		{name: "undeclared", header: "x_auth_anything_at_all", wantFamily: true, wantUnderscore: true},
		{name: "prefix_only", header: "x_auth_"},
		{name: "prefix_only_dashes", header: "x-auth-"},
		{name: "decision_id_longer", header: "x_decision_id_2"},
		{name: "decision_id_shorter", header: "x_decision_i"},
		{name: "other_underscore", header: "x_request_id"},
		{name: "other", header: "authorization"},
		{name: "pseudo", header: ":authority"},
		{name: "empty", header: ""},
		{name: "authx", header: "x_authx_subject"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := denial.IdentityFamily(tt.header); got != tt.wantFamily {
				t.Errorf("IdentityFamily(%q) = %v, want %v", tt.header, got, tt.wantFamily)
			}
			if got := denial.UnderscoreIdentity(tt.header); got != tt.wantUnderscore {
				t.Errorf("UnderscoreIdentity(%q) = %v, want %v", tt.header, got, tt.wantUnderscore)
			}
		})
	}
}

func TestAppendUnderscoreSpellings(t *testing.T) {
	tests := []struct {
		name   string
		header string
		want   string
	}{
		{name: "subject", header: "X-Auth-Subject", want: "x_auth_subject x-auth_subject x_auth-subject"},
		{name: "decision_id", header: "X-Decision-Id", want: "x_decision_id x-decision_id x_decision-id"},
		{name: "declared_three_dashes", header: "X-Auth-Tenant-Id",
			want: "x_auth_tenant_id x-auth_tenant_id x_auth-tenant_id x-auth-tenant_id x_auth_tenant-id x-auth_tenant-id x_auth-tenant-id"},
		{name: "no_dash", header: "Host", want: ""},
		{name: "over_the_bound", header: "X-Auth-A-B-C-D-E-F", want: "x_auth_a_b_c_d_e_f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := denial.AppendUnderscoreSpellings(nil, tt.header)
			if strings.Join(got, " ") != tt.want {
				t.Errorf("AppendUnderscoreSpellings(%q) = %q, want %q", tt.header, got, tt.want)
			}
			for _, s := range got {
				if !strings.Contains(s, "_") || strings.ReplaceAll(s, "_", "-") != strings.ToLower(tt.header) {
					t.Errorf("spelling %q is not %q with some \"-\" written \"_\"", s, tt.header)
				}
			}
			if c := slices.Compact(slices.Sorted(slices.Values(got))); len(c) != len(got) {
				t.Errorf("spellings %q repeat", got)
			}
		})
	}
	t.Run("bound", func(t *testing.T) {
		name := "X-Auth" + strings.Repeat("-A", denial.MaxSpellingSeparators-1)
		if got := denial.AppendUnderscoreSpellings(nil, name); len(got) != 1<<denial.MaxSpellingSeparators-1 {
			t.Errorf("%s: %d spellings, want %d", name, len(got), 1<<denial.MaxSpellingSeparators-1)
		}
	})
}
