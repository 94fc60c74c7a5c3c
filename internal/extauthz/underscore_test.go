package extauthz_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
)

// TestCheckUnderscoreIdentity: Envoy passes header names with "_" by
// default, and a CGI-style upstream reads x_auth_subject as
// X-Auth-Subject. An allow lists every client header of the identity
// family spelt with "_" (any case, any mix of "_" and "-"; the fixed
// names, the declared ones, and any other X-Auth-*) in headers_to_remove,
// lower-cased, after the identity names it removes today, and never in
// headers. Both request forms: headers, and header_map (encode_raw_headers).
func TestCheckUnderscoreIdentity(t *testing.T) {
	p, client := headerClient(t)
	acme := "Bearer " + p.Token(t, map[string]any{"org_id": "acme"})
	const (
		removeOrg  = "x-auth-scopes x-auth-plan"                                            // /orgs/acme with acme's token
		removeOpen = "x-auth-subject x-auth-scopes x-auth-issuer x-auth-plan x-auth-tenant" // /open, anonymous
	)
	type kv struct{ name, value string }
	tests := []struct {
		name       string
		path       string
		headers    []kv   // the client's headers, in order (header_map keeps it)
		wantStatus int    // 200: allowed
		wantRemove string // the identity names removed, as without the client's headers
		wantStrip  string // then the client's names, any order
	}{
		{name: "none", path: "/orgs/acme", headers: []kv{{"authorization", acme}},
			wantStatus: 200, wantRemove: removeOrg},
		{name: "dash_spellings_only", path: "/orgs/acme",
			headers:    []kv{{"authorization", acme}, {"x-auth-subject", "admin"}, {"x-auth-tenant", "evil"}, {"x-decision-id", "forged"}},
			wantStatus: 200, wantRemove: removeOrg},
		{name: "not_identity", path: "/open",
			headers:    []kv{{"x_request_id", "1"}, {"x_forwarded_for", "10.0.0.1"}, {"x_auth_", "x"}, {"x_decision_id_2", "x"}, {"x_authx_subject", "x"}},
			wantStatus: 200, wantRemove: removeOpen},
		{name: "fixed_names_anonymous", path: "/open",
			headers:    []kv{{"x_auth_subject", "admin"}, {"x_auth_scopes", "admin:all"}, {"x_auth_issuer", "https://evil/"}, {"x_decision_id", "forged"}},
			wantStatus: 200, wantRemove: removeOpen, wantStrip: "x_auth_issuer x_auth_scopes x_auth_subject x_decision_id"},
		{name: "fixed_names_beside_identity", path: "/orgs/acme",
			headers:    []kv{{"authorization", acme}, {"x_auth_subject", "admin"}, {"x_auth_scopes", "admin:all"}, {"x_auth_issuer", "https://evil/"}, {"x_decision_id", "forged"}},
			wantStatus: 200, wantRemove: removeOrg, wantStrip: "x_auth_issuer x_auth_scopes x_auth_subject x_decision_id"},
		{name: "mixed_case", path: "/orgs/acme",
			headers:    []kv{{"authorization", acme}, {"X_Auth_Subject", "admin"}, {"X_DECISION_ID", "forged"}},
			wantStatus: 200, wantRemove: removeOrg, wantStrip: "x_auth_subject x_decision_id"},
		{name: "mixed_separators", path: "/orgs/acme",
			headers:    []kv{{"authorization", acme}, {"x-auth_subject", "admin"}, {"X_Auth-Scopes", "admin:all"}, {"x-decision_id", "forged"}},
			wantStatus: 200, wantRemove: removeOrg, wantStrip: "x-auth_subject x-decision_id x_auth-scopes"},
		{name: "same_name_twice", path: "/orgs/acme",
			headers:    []kv{{"authorization", acme}, {"X_Auth_Subject", "admin"}, {"x_auth_subject", "root"}},
			wantStatus: 200, wantRemove: removeOrg, wantStrip: "x_auth_subject"},
		{name: "declared_set", path: "/orgs/acme",
			headers:    []kv{{"authorization", acme}, {"x_auth_tenant", "evil"}},
			wantStatus: 200, wantRemove: removeOrg, wantStrip: "x_auth_tenant"},
		{name: "declared_not_set", path: "/open",
			headers:    []kv{{"x_auth_plan", "platinum"}, {"X_Auth_Tenant", "evil"}},
			wantStatus: 200, wantRemove: removeOpen, wantStrip: "x_auth_plan x_auth_tenant"},
		{name: "undeclared_family", path: "/open",
			headers:    []kv{{"x_auth_role", "admin"}},
			wantStatus: 200, wantRemove: removeOpen, wantStrip: "x_auth_role"},
		{name: "denied_sends_nothing_upstream", path: "/orgs/acme",
			headers:    []kv{{"x_auth_subject", "admin"}},
			wantStatus: 401},
	}
	forms := []struct {
		name  string
		build func(headers []kv) *authv3.CheckRequest
	}{
		{name: "headers", build: func(headers []kv) *authv3.CheckRequest {
			m := map[string]string{}
			for _, h := range headers {
				m[h.name] = h.value
			}
			return checkRequest("GET", "api.example.com", "", m)
		}},
		{name: "header_map", build: func(headers []kv) *authv3.CheckRequest {
			cr := checkRequest("GET", "api.example.com", "", nil)
			hm := &corev3.HeaderMap{}
			for _, h := range headers {
				hm.Headers = append(hm.Headers, &corev3.HeaderValue{Key: h.name, RawValue: []byte(h.value)})
			}
			cr.Attributes.Request.Http.HeaderMap = hm
			return cr
		}},
	}
	for _, form := range forms {
		t.Run(form.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					cr := form.build(tt.headers)
					cr.Attributes.Request.Http.Path = tt.path
					resp, err := client.Check(context.Background(), cr)
					if err != nil {
						t.Fatal(err)
					}
					a := read(t, resp)
					if a.status != tt.wantStatus {
						t.Fatalf("status = %d %s, want %d", a.status, a.body, tt.wantStatus)
					}
					if a.status != 200 {
						if len(a.remove) > 0 {
							t.Errorf("denial removes %q", a.remove)
						}
						return
					}
					want := strings.Fields(tt.wantRemove)
					if len(a.remove) < len(want) || !slices.Equal(a.remove[:len(want)], want) {
						t.Fatalf("headers_to_remove = %q, want %q first", a.remove, want)
					}
					strip := slices.Sorted(slices.Values(a.remove[len(want):]))
					if got := strings.Join(strip, " "); got != tt.wantStrip {
						t.Errorf("headers_to_remove after the identity names = %q, want %q", got, tt.wantStrip)
					}
					for name := range a.headers {
						if strings.Contains(name, "_") {
							t.Errorf("header %s set: a name with \"_\"", name)
						}
						if slices.Contains(a.remove, name) {
							t.Errorf("%s is both set and removed", name)
						}
					}
				})
			}
		})
	}
}
