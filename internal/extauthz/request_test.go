package extauthz

import (
	"slices"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
)

// TestStripNames: the client's identity headers spelt with "_" are each
// removed once, in lower case, however often and in whatever case they
// came.
func TestStripNames(t *testing.T) {
	tests := []struct {
		name    string
		headers map[string]string
		want    []string
	}{
		{name: "none", headers: map[string]string{"x-auth-subject": "a", "accept": "*/*"}},
		{name: "one", headers: map[string]string{"x_auth_subject": "a"}, want: []string{"x_auth_subject"}},
		{name: "cases_of_one_name", headers: map[string]string{"x_auth_subject": "a", "X_Auth_Subject": "b", "X_AUTH_SUBJECT": "c"}, want: []string{"x_auth_subject"}},
		{name: "several", headers: map[string]string{"x_decision_id": "a", "X_Auth_Scopes": "b", "x_auth-subject": "c"},
			want: []string{"x_auth-subject", "x_auth_scopes", "x_decision_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cr := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
				Http: &authv3.AttributeContext_HttpRequest{Method: "GET", Host: "api.example.com", Path: "/", Headers: tt.headers}}}}
			var strip []string
			if _, r := toRequest(cr, &strip); r != nil {
				t.Fatalf("toRequest() refused: %s", r.description)
			}
			if !slices.Equal(strip, tt.want) {
				t.Errorf("strip = %q, want %q", strip, tt.want)
			}
		})
	}
}
