package extauthz

import (
	"slices"
	"strings"
	"testing"

	"github.com/policygate/policygate/internal/denial"
)

// TestAllowPastItsRoom checks an allowed answer with more headers to set
// and to remove than the answer keeps room for: every one is sent, in
// order, lower-cased (the client's "_" spellings after the identity
// names), and the decision id reaches dynamic_metadata.
func TestAllowPastItsRoom(t *testing.T) {
	for _, tt := range []struct {
		name   string
		set    []denial.Header
		remove []string
		strip  []string // client names spelt with "_"
	}{
		{name: "none"},
		{name: "four_and_four",
			set:    []denial.Header{{Name: "X-Auth-Subject", Value: "a"}, {Name: "X-Auth-Scopes", Value: "b"}, {Name: "X-Auth-Issuer", Value: "c"}, {Name: "X-Decision-Id", Value: "d"}},
			remove: []string{"X-Auth-A", "X-Auth-B", "X-Auth-C", "X-Auth-D"}},
		{name: "six_and_five",
			set: []denial.Header{{Name: "X-Auth-Subject", Value: "a"}, {Name: "X-Auth-Scopes", Value: "b"}, {Name: "X-Auth-Issuer", Value: "c"},
				{Name: "X-Decision-Id", Value: "d"}, {Name: "X-Auth-Tenant", Value: "e"}, {Name: "X-Auth-Plan", Value: "f"}},
			remove: []string{"X-Auth-A", "X-Auth-B", "X-Auth-C", "X-Auth-D", "X-Auth-E"}},
		{name: "strip_only", strip: []string{"X_Auth_Subject", "x_decision_id"}},
		{name: "four_and_strip",
			remove: []string{"X-Auth-A", "X-Auth-B", "X-Auth-C", "X-Auth-D"}, strip: []string{"x_auth-subject"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := allow(tt.set, tt.remove, tt.strip, "id-1")
			ok := resp.GetOkResponse()
			var got, want []string
			for _, h := range ok.GetHeaders() {
				got = append(got, h.GetHeader().GetKey()+"="+h.GetHeader().GetValue()+" "+h.GetAppendAction().String())
			}
			for _, h := range tt.set {
				want = append(want, lower(h.Name)+"="+h.Value+" OVERWRITE_IF_EXISTS_OR_ADD")
			}
			if !slices.Equal(got, want) {
				t.Errorf("headers = %q, want %q", got, want)
			}
			want = nil
			for _, n := range tt.remove {
				want = append(want, lower(n))
			}
			for _, n := range tt.strip {
				want = append(want, strings.ToLower(n))
			}
			if got := ok.GetHeadersToRemove(); !slices.Equal(got, want) {
				t.Errorf("headers_to_remove = %q, want %q", got, want)
			}
			if id := resp.GetDynamicMetadata().GetFields()[DecisionIDKey].GetStringValue(); id != "id-1" {
				t.Errorf("dynamic_metadata decision_id = %q, want id-1", id)
			}
			if resp.GetStatus().GetCode() != 0 {
				t.Errorf("status = %v, want OK", resp.GetStatus())
			}
		})
	}
}
