package api_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/policygate/policygate/internal/api"
	"github.com/policygate/policygate/internal/authn/authntest"
)

// spellings is every way a client can write name that a CGI-style server
// reads as name: each "-" kept or written "_", in lower case, as given
// and in upper case.
func spellings(name string) []string {
	parts := strings.Split(name, "-")
	var out []string
	for mask := 0; mask < 1<<(len(parts)-1); mask++ {
		var b strings.Builder
		for i, p := range parts {
			if i > 0 {
				b.WriteByte("-_"[mask>>(i-1)&1])
			}
			b.WriteString(p)
		}
		s := b.String()
		out = append(out, strings.ToLower(s), s, strings.ToUpper(s))
	}
	return out
}

// cgiKey is the name a CGI-style server (Rack, PHP, WSGI) gives a header.
func cgiKey(name string) string {
	return "HTTP_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// TestEnvoyHTTPUnderscoreIdentity plays Envoy's HTTP service and a
// CGI-style upstream around /authz: the client sends every spelling of
// every identity and declared name; Envoy copies the allowed upstream
// headers (the four identity names and, as docs/policy.md says, the
// declared ones), then removes the names in x-envoy-auth-headers-to-remove
// (Envoy compares names without case). What the upstream reads under an
// identity key is then only what policygate set. The forwarded and
// original families get no removal list (their proxies do not read one).
func TestEnvoyHTTPUnderscoreIdentity(t *testing.T) {
	p := authntest.NewProvider(t)
	reg := prometheus.NewRegistry()
	h := api.NewServer(api.Options{Gate: facesGate(t, p, headerPolicy(t), decisionCacheOn, reg), Registry: reg, Realm: "test"})
	acme := "Bearer " + p.Token(t, map[string]any{"org_id": "acme", "scope": "read:messages"})
	plain := "Bearer " + p.Token(t, nil)
	copied := append(slices.Clone(identityLower), "x-auth-plan", "x-auth-tenant")
	const spoof = "spoofed"
	type kv struct{ name, value string }
	var client []kv
	for _, name := range copied {
		for _, s := range spellings(name) {
			client = append(client, kv{s, spoof})
		}
	}
	tests := []struct {
		name          string
		call          authzCall
		wantSet       []string // identity names policygate sets
		wantNoRemoval bool     // not the envoy family: no x-envoy-auth-headers-to-remove
	}{
		{name: "envoy_tenant_set", call: authzCall{target: "/authz/orgs/acme", header: http.Header{"Authorization": {acme}}},
			wantSet: []string{"x-auth-subject", "x-auth-scopes", "x-auth-issuer", "x-decision-id", "x-auth-tenant"}},
		{name: "envoy_no_claim", call: authzCall{target: "/authz/orgs/acme", header: http.Header{"Authorization": {plain}}},
			wantSet: []string{"x-auth-subject", "x-auth-issuer", "x-decision-id"}},
		{name: "envoy_public", call: authzCall{target: "/authz/api/public"}, wantSet: []string{"x-decision-id"}},
		{name: "forwarded_public", call: authzCall{header: fwd("GET", "/api/public")}, wantNoRemoval: true},
		{name: "original_public", call: authzCall{header: orig("GET", "/api/public")}, wantNoRemoval: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := tt.call.do(t, h)
			if rec.Code != http.StatusOK {
				t.Fatalf("/authz = %d %s, want 200", rec.Code, rec.Body.String())
			}
			list, listed := rec.Header()["X-Envoy-Auth-Headers-To-Remove"]
			if tt.wantNoRemoval {
				if listed {
					t.Errorf("x-envoy-auth-headers-to-remove = %q, want none for this family", list)
				}
				return
			}
			if len(list) != 1 {
				t.Fatalf("x-envoy-auth-headers-to-remove = %q, want one line", list)
			}
			upstream := slices.Clone(client)
			for _, name := range copied { // allowed_upstream_headers: overwrite
				if v := rec.Header().Get(name); v != "" {
					upstream = slices.DeleteFunc(upstream, func(e kv) bool { return strings.EqualFold(e.name, name) })
					upstream = append(upstream, kv{name, v})
				}
			}
			for _, name := range strings.Split(list[0], ",") {
				name = strings.TrimSpace(name)
				if rec.Header().Get(name) != "" {
					t.Errorf("%s is both set and removed", name)
				}
				upstream = slices.DeleteFunc(upstream, func(e kv) bool { return strings.EqualFold(e.name, name) })
			}
			read := map[string][]string{}
			for _, e := range upstream {
				read[cgiKey(e.name)] = append(read[cgiKey(e.name)], e.name+": "+e.value)
			}
			for _, name := range copied {
				got := read[cgiKey(name)]
				want := []string(nil)
				if slices.Contains(tt.wantSet, name) {
					want = []string{name + ": " + rec.Header().Get(name)}
				}
				if !slices.Equal(got, want) {
					t.Errorf("upstream reads %s = %q, want %q", cgiKey(name), got, want)
				}
			}
		})
	}
}
