package api_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/policygate/policygate/internal/api"
	"github.com/policygate/policygate/internal/authn/authntest"
)

// headerRoutes declares two policy headers: /orgs/{org} copies the org_id
// claim into X-Auth-Tenant, X-Auth-Plan is never set by these rules.
const headerRoutes = `{"headers": ["X-Auth-Tenant", "X-Auth-Plan"], "routes": {
	"/orgs/{org}": {"GET": {"access": "authenticated", "headers": {"X-Auth-Tenant": {"claim": "org_id"}}}},
	"/api/public": {"GET": {"access": "public"}},
	"/leak": {"GET": {"access": "public"}}
}}`

// headerCustom sets a header nobody declared on /leak: the allow becomes
// a 403 on every face.
const headerCustom = `package authz

custom_headers["X-Auth-Undeclared"] := "x" if input.path == ["leak"]
`

// underscoreDeclared is each spelling with "_" of headerRoutes' declared
// names, as Envoy's HTTP service is told to remove them.
const underscoreDeclared = "x_auth_plan,x-auth_plan,x_auth-plan,x_auth_tenant,x-auth_tenant,x_auth-tenant"

func headerPolicy(t *testing.T) string {
	t.Helper()
	dir := policyWith(t, headerRoutes)
	if err := os.WriteFile(filepath.Join(dir, "authz", "custom.rego"), []byte(headerCustom), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Every face removes every declared name it does not set: /authz lists
// them in x-envoy-auth-headers-to-remove for Envoy's HTTP service (then
// every spelling with "_" of the identity and declared names), sets what
// it sets for every family, and refuses an undeclared name.
func TestForwardAuthPolicyHeaders(t *testing.T) {
	p := authntest.NewProvider(t)
	reg := prometheus.NewRegistry()
	h := api.NewServer(api.Options{Gate: facesGate(t, p, headerPolicy(t), decisionCacheOn, reg), Registry: reg, Realm: "test"})
	acme := "Bearer " + p.Token(t, map[string]any{"org_id": "acme"})
	plain := "Bearer " + p.Token(t, nil)
	tests := []struct {
		name       string
		call       authzCall
		want       int
		wantTenant string // X-Auth-Tenant on the answer
		wantRemove string // x-envoy-auth-headers-to-remove
	}{
		{name: "envoy_tenant_set", call: authzCall{target: "/authz/orgs/acme", header: http.Header{"Authorization": {acme}}}, want: 200,
			wantTenant: "acme", wantRemove: "x-auth-scopes,x-auth-plan," + underscoreFixed + "," + underscoreDeclared},
		{name: "envoy_no_claim", call: authzCall{target: "/authz/orgs/acme", header: http.Header{"Authorization": {plain}}}, want: 200,
			wantRemove: "x-auth-scopes,x-auth-plan,x-auth-tenant," + underscoreFixed + "," + underscoreDeclared},
		{name: "envoy_public", call: authzCall{target: "/authz/api/public"}, want: 200,
			wantRemove: "x-auth-subject,x-auth-scopes,x-auth-issuer,x-auth-plan,x-auth-tenant," + underscoreFixed + "," + underscoreDeclared},
		{name: "forwarded_tenant_set", call: authzCall{header: fwd("GET", "/orgs/acme", "Authorization", acme)}, want: 200, wantTenant: "acme"},
		{name: "original_tenant_set", call: authzCall{header: orig("GET", "/orgs/acme", "Authorization", acme)}, want: 200, wantTenant: "acme"},
		{name: "envoy_undeclared_refused", call: authzCall{target: "/authz/leak"}, want: 403},
		{name: "forwarded_undeclared_refused", call: authzCall{header: fwd("GET", "/leak")}, want: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := tt.call.do(t, h)
			if rec.Code != tt.want {
				t.Fatalf("/authz = %d %s, want %d", rec.Code, rec.Body.String(), tt.want)
			}
			if got := rec.Header().Get("X-Auth-Tenant"); got != tt.wantTenant {
				t.Errorf("X-Auth-Tenant = %q, want %q", got, tt.wantTenant)
			}
			if got := rec.Header().Get("X-Envoy-Auth-Headers-To-Remove"); got != tt.wantRemove {
				t.Errorf("x-envoy-auth-headers-to-remove = %q, want %q", got, tt.wantRemove)
			}
		})
	}
}

// Proxy mode removes every client X-Auth-* (declared or not) and sets the
// policy's headers; an undeclared name never reaches the upstream.
func TestProxyPolicyHeaders(t *testing.T) {
	p := authntest.NewProvider(t)
	seenHeaders := make(chan http.Header, 8)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case seenHeaders <- r.Header.Clone():
		default:
		}
	}))
	t.Cleanup(up.Close)
	u, _ := url.Parse(up.URL)
	reg := prometheus.NewRegistry()
	srv := httptest.NewServer(api.NewServer(api.Options{Gate: facesGate(t, p, headerPolicy(t), decisionCacheOn, reg), Registry: reg, Realm: "test",
		Proxy: &api.ProxyOptions{Upstream: u, Timeout: 5 * time.Second}, SeparateAdmin: true}))
	t.Cleanup(srv.Close)
	spoofs := http.Header{"X-Auth-Tenant": {"evil"}, "X-Auth-Plan": {"platinum"}, "X_Auth_Plan": {"platinum"}, "X-Auth-Undeclared": {"evil"}}
	tests := []struct {
		name       string
		path       string
		token      string
		want       int
		wantTenant string
	}{
		{name: "tenant_replaces_spoof", path: "/orgs/acme", token: p.Token(t, map[string]any{"org_id": "acme"}), want: 200, wantTenant: "acme"},
		{name: "no_claim_spoof_removed", path: "/orgs/acme", token: p.Token(t, nil), want: 200},
		{name: "public_spoof_removed", path: "/api/public", want: 200},
		{name: "undeclared_refused", path: "/leak", want: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL+tt.path, nil)
			for k, vs := range spoofs {
				req.Header[k] = vs
			}
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("GET %s = %d, want %d", tt.path, resp.StatusCode, tt.want)
			}
			if tt.want != 200 {
				select {
				case h := <-seenHeaders:
					t.Errorf("a refused request reached the upstream with %v", h)
				default:
				}
				return
			}
			var h http.Header
			select {
			case h = <-seenHeaders:
			case <-time.After(5 * time.Second):
				t.Fatal("the upstream saw nothing")
			}
			if got := strings.Join(h.Values("X-Auth-Tenant"), ","); got != tt.wantTenant {
				t.Errorf("upstream X-Auth-Tenant = %q, want %q", got, tt.wantTenant)
			}
			for _, name := range []string{"X-Auth-Plan", "X_Auth_Plan", "X-Auth-Undeclared"} {
				if v, ok := h[name]; ok {
					t.Errorf("upstream got the client's %s: %q", name, v)
				}
			}
		})
	}
}
