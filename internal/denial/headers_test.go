package denial_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/policygate/policygate/internal/denial"
	"github.com/policygate/policygate/internal/gate"
)

// The policy's own headers join the identity set; every declared name an
// answer does not set is removed, and a name is never both set and
// removed.
func TestIdentityPolicyHeaders(t *testing.T) {
	base := gate.Outcome{Kind: gate.Allowed, Subject: "alice", Issuer: "https://i/", DecisionID: "d1",
		DeclaredHeaders: []string{"X-Auth-Plan", "X-Auth-Tenant"}}
	with := func(h map[string]string) gate.Outcome { o := base; o.Headers = h; return o }
	tests := []struct {
		name       string
		out        gate.Outcome
		wantSet    string // names set, in order
		wantRemove string
		wantErr    bool
	}{
		{name: "one_set_one_removed", out: with(map[string]string{"X-Auth-Tenant": "acme"}),
			wantSet: "X-Auth-Subject X-Auth-Issuer X-Decision-Id X-Auth-Tenant", wantRemove: "X-Auth-Scopes X-Auth-Plan"},
		{name: "none_set", out: with(nil),
			wantSet: "X-Auth-Subject X-Auth-Issuer X-Decision-Id", wantRemove: "X-Auth-Scopes X-Auth-Plan X-Auth-Tenant"},
		{name: "empty_value_is_absent", out: with(map[string]string{"X-Auth-Tenant": ""}),
			wantSet: "X-Auth-Subject X-Auth-Issuer X-Decision-Id", wantRemove: "X-Auth-Scopes X-Auth-Plan X-Auth-Tenant"},
		{name: "both_set", out: with(map[string]string{"X-Auth-Tenant": "acme", "X-Auth-Plan": "gold"}),
			wantSet: "X-Auth-Subject X-Auth-Issuer X-Decision-Id X-Auth-Plan X-Auth-Tenant", wantRemove: "X-Auth-Scopes"},
		{name: "bad_value", out: with(map[string]string{"X-Auth-Tenant": "acme\r\nX-Auth-Subject: admin"}), wantErr: true},
		{name: "non_ascii_value", out: with(map[string]string{"X-Auth-Tenant": "zoë"}), wantErr: true},
		{name: "identity_name", out: with(map[string]string{"X-Auth-Subject": "admin"}), wantErr: true},
		{name: "outside_x_auth", out: with(map[string]string{"X-Tenant": "acme"}), wantErr: true},
		{name: "not_canonical", out: with(map[string]string{"x-auth-tenant": "acme"}), wantErr: true},
		{name: "over_8_kib_together", out: with(map[string]string{"X-Auth-Tenant": strings.Repeat("a", denial.MaxIdentityBytes-40)}), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, remove, err := denial.Identity(tt.out)
			checkErr := denial.CheckIdentity(tt.out)
			if tt.wantErr {
				if !errors.Is(err, denial.ErrBadIdentity) || !errors.Is(checkErr, denial.ErrBadIdentity) {
					t.Errorf("Identity() = %v, CheckIdentity() = %v, want ErrBadIdentity from both", err, checkErr)
				}
				return
			}
			if err != nil || checkErr != nil {
				t.Fatalf("Identity() = %v, CheckIdentity() = %v", err, checkErr)
			}
			names := make([]string, len(set))
			for i, h := range set {
				names[i] = h.Name
				if slices.Contains(remove, h.Name) {
					t.Errorf("%s is both set and removed", h.Name)
				}
			}
			if got := strings.Join(names, " "); got != tt.wantSet {
				t.Errorf("set = %q, want %q", got, tt.wantSet)
			}
			if got := strings.Join(remove, " "); got != tt.wantRemove {
				t.Errorf("remove = %q, want %q", got, tt.wantRemove)
			}
		})
	}
}
