package extauthz_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/authn/authntest"
	"github.com/policygate/policygate/internal/authz"
	"github.com/policygate/policygate/internal/denial"
	"github.com/policygate/policygate/internal/extauthz"
	"github.com/policygate/policygate/internal/gate"
	"github.com/policygate/policygate/internal/testfile"
)

// headerPolicy is the shipped Rego with two declared headers: /orgs/{org}
// copies org_id into X-Auth-Tenant, X-Auth-Plan is never set, /open is
// public, and a custom rule sets an undeclared name on /leak.
func headerPolicy(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	rego, err := os.ReadFile("../../policies/authz/authz.rego")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"authz.rego":  string(rego),
		"custom.rego": "package authz\n\ncustom_headers[\"X-Auth-Undeclared\"] := \"x\" if input.path == [\"leak\"]\n",
		"data.json": `{"headers": ["X-Auth-Tenant", "X-Auth-Plan"], "routes": {
			"/orgs/{org}": {"GET": {"access": "authenticated", "headers": {"X-Auth-Tenant": {"claim": "org_id"}}}},
			"/open": {"GET": {"access": "public"}},
			"/leak": {"GET": {"access": "public"}}}}`,
	}
	for name, content := range files {
		testfile.Write(t, filepath.Join(dir, "authz", name), content)
	}
	return dir
}

// headerClient runs the real stack on headerPolicy behind a plaintext
// listener and returns its token provider and a Check client.
func headerClient(t *testing.T) (*authntest.Provider, authv3.AuthorizationClient) {
	t.Helper()
	p := authntest.NewProvider(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	keys := authn.NewKeySet(authn.KeySetConfig{JWKSURL: p.JWKSURL()})
	authntest.RunKeys(t, keys)
	v, err := authn.NewVerifier(keys, authn.VerifierConfig{Issuer: p.Issuer, Audience: authntest.Audience, Algorithms: []string{"RS256"}, ClockSkew: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	engine, err := authz.New(ctx, authz.Config{PolicyDir: headerPolicy(t), DecisionCacheSize: authz.DefaultDecisionCacheSize})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Stop(context.Background()) })
	authntest.AwaitKeys(t, keys)
	select {
	case <-engine.Ready():
	case <-time.After(20 * time.Second):
		t.Fatalf("policy not active within 20s: %s", engine.Status().LastError)
	}
	g := gate.New(v, engine, gate.WithAllowCheck(denial.CheckIdentity))
	_, addr := serve(t, extauthz.Config{Gate: g, Renderer: denial.NewRenderer(realm, "")})
	return p, authv3.NewAuthorizationClient(dial(t, addr, nil))
}

// The gRPC face sets the policy's headers and lists every declared name it
// does not set in headers_to_remove (never a name it sets: Envoy applies
// removals last); an undeclared name turns the allow into a 403.
func TestCheckPolicyHeaders(t *testing.T) {
	p, client := headerClient(t)
	tests := []struct {
		name       string
		path       string
		token      string
		wantStatus int
		wantTenant string
		wantRemove string
	}{
		{name: "tenant_set", path: "/orgs/acme", token: p.Token(t, map[string]any{"org_id": "acme"}), wantStatus: 200,
			wantTenant: "acme", wantRemove: "x-auth-scopes x-auth-plan"},
		{name: "no_claim", path: "/orgs/acme", token: p.Token(t, nil), wantStatus: 200,
			wantRemove: "x-auth-scopes x-auth-plan x-auth-tenant"},
		{name: "undeclared_refused", path: "/leak", wantStatus: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var headers map[string]string
			if tt.token != "" {
				headers = auth("Bearer " + tt.token)
			}
			resp, err := client.Check(context.Background(), checkRequest("GET", "api.example.com", tt.path, headers))
			if err != nil {
				t.Fatal(err)
			}
			a := read(t, resp)
			if a.status != tt.wantStatus {
				t.Fatalf("status = %d %s, want %d", a.status, a.body, tt.wantStatus)
			}
			if got := a.headers["x-auth-tenant"]; got != tt.wantTenant {
				t.Errorf("x-auth-tenant = %q, want %q", got, tt.wantTenant)
			}
			if got := strings.Join(a.remove, " "); got != tt.wantRemove {
				t.Errorf("headers_to_remove = %q, want %q", got, tt.wantRemove)
			}
			for name := range a.headers {
				if slices.Contains(a.remove, name) {
					t.Errorf("%s is both set and removed", name)
				}
			}
		})
	}
}
