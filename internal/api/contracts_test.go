package api_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	"github.com/open-policy-agent/opa/v1/util"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/policygate/policygate/internal/denial"
	"github.com/policygate/policygate/internal/gate"
	"github.com/policygate/policygate/internal/proxytest"
)

// yamlDoc parses a docs block as YAML.
func yamlDoc(t *testing.T, name string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := util.Unmarshal([]byte(proxytest.DocBlock(t, "../../docs/forward-auth.md", name, "yaml")), &m); err != nil {
		t.Fatalf("docs/forward-auth.md %s block: %v", name, err)
	}
	return m
}

// dig follows keys (string for maps, int for lists) through parsed YAML.
func dig(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, k := range path {
		switch k := k.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %q: not a map in %v", k, v)
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("at [%d]: not a long enough list in %v", k, v)
			}
			v = l[k]
		}
	}
	return v
}

func exacts(t *testing.T, v any) []string {
	t.Helper()
	var out []string
	for _, p := range v.([]any) {
		out = append(out, p.(map[string]any)["exact"].(string))
	}
	return out
}

// matchesPattern reports whether a lower-case header name matches one of
// Envoy's string matchers (exact, or safe_regex matching the whole name).
func matchesPattern(t *testing.T, patterns []any, name string) bool {
	t.Helper()
	for _, p := range patterns {
		m := p.(map[string]any)
		if m["exact"] == name {
			return true
		}
		if re, ok := m["safe_regex"].(map[string]any); ok && regexp.MustCompile(`^(?:`+re["regex"].(string)+`)$`).MatchString(name) {
			return true
		}
	}
	return false
}

// checkExtAuthzProto parses the filter's typed_config into
// go-control-plane's ExtAuthz and runs its generated validation.
func checkExtAuthzProto(t *testing.T, typed any) {
	t.Helper()
	m := maps.Clone(typed.(map[string]any))
	delete(m, "@type")
	js, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var cfg extauthzv3.ExtAuthz
	if err := protojson.Unmarshal(js, &cfg); err != nil {
		t.Fatalf("ext_authz typed_config does not parse as envoy.extensions.filters.http.ext_authz.v3.ExtAuthz: %v", err)
	}
	if err := cfg.ValidateAll(); err != nil {
		t.Fatalf("ext_authz typed_config is invalid: %v", err)
	}
}

var identityLower = []string{"x-auth-subject", "x-auth-scopes", "x-auth-issuer", "x-decision-id"}

// underscoreFixed is what every allow for Envoy's HTTP service lists after
// the identity names without a value: each spelling with "_" of the four
// identity names (a CGI-style upstream reads them all as the "-" one).
const underscoreFixed = "x_auth_subject,x-auth_subject,x_auth-subject,x_auth_scopes,x-auth_scopes,x_auth-scopes," +
	"x_auth_issuer,x-auth_issuer,x_auth-issuer,x_decision_id,x-decision_id,x_decision-id"

// TestEnvoyHTTPContract checks the documented Envoy ext_authz HTTP
// configuration, then makes the calls Envoy makes with it: the client's
// method to path_prefix + path and query, with only Authorization, Host
// and the allowed headers; exactly 200 allows; the upstream gets the
// allowed headers and loses those in x-envoy-auth-headers-to-remove.
// Envoy itself does not run here.
func TestEnvoyHTTPContract(t *testing.T) {
	cfg := yamlDoc(t, "envoy-http")
	authz := dig(t, cfg, "http_filters", 0, "typed_config")
	if dig(t, authz, "failure_mode_allow") != false {
		t.Error("failure_mode_allow must be false: an error must never allow")
	}
	svc := dig(t, authz, "http_service")
	if dig(t, svc, "path_prefix") != "/authz" {
		t.Errorf("path_prefix = %v, want /authz", dig(t, svc, "path_prefix"))
	}
	if got := exacts(t, dig(t, svc, "authorization_response", "allowed_upstream_headers", "patterns")); !slices.Equal(got, identityLower) {
		t.Errorf("allowed_upstream_headers = %q, want the identity set %q", got, identityLower)
	}
	if got := exacts(t, dig(t, svc, "authorization_response", "allowed_client_headers", "patterns")); !slices.Contains(got, "www-authenticate") {
		t.Errorf("allowed_client_headers = %q, want www-authenticate", got)
	}
	checkExtAuthzProto(t, authz)
	sent := dig(t, svc, "authorization_request", "allowed_headers", "patterns").([]any)
	mustSend := []string{"authorization"}
	for _, h := range gate.MethodOverrideHeaders {
		mustSend = denial.AppendUnderscoreSpellings(append(mustSend, strings.ToLower(h)), h)
	}
	for _, h := range mustSend {
		if !matchesPattern(t, sent, h) {
			t.Errorf("allowed_headers do not send %s", h)
		}
	}
	for _, h := range []string{"x-request-id", "cookie", "x-http-methods", "x-http-method-overrides"} {
		if matchesPattern(t, sent, h) {
			t.Errorf("allowed_headers send %s", h)
		}
	}

	for _, mode := range decisionCacheModes {
		t.Run(mode.name, func(t *testing.T) {
			s := newStackDecisions(t, mode.size)
			p := s.provider
			scoped := p.Token(t, map[string]any{"scope": "read:messages"})
			plain := p.Token(t, nil)
			prefix := dig(t, svc, "path_prefix").(string)
			tests := []struct {
				name       string
				method     string
				path       string
				header     http.Header
				wantStatus int
				wantRemove string // x-envoy-auth-headers-to-remove
				wantSet    []string
			}{
				{name: "anonymous_public", method: "GET", path: "/api/public?x=1", wantStatus: 200,
					wantRemove: "x-auth-subject,x-auth-scopes,x-auth-issuer," + underscoreFixed, wantSet: []string{"X-Decision-Id"}},
				{name: "token_without_scopes", method: "GET", path: "/api/private", header: bearer(plain), wantStatus: 200,
					wantRemove: "x-auth-scopes," + underscoreFixed, wantSet: []string{"X-Auth-Subject", "X-Auth-Issuer", "X-Decision-Id"}},
				{name: "scoped", method: "GET", path: "/api/private-scoped", header: bearer(scoped), wantStatus: 200,
					wantRemove: underscoreFixed, wantSet: []string{"X-Auth-Subject", "X-Auth-Scopes", "X-Auth-Issuer", "X-Decision-Id"}},
				{name: "method_is_the_calls", method: "POST", path: "/api/private-scoped", header: bearer(scoped), wantStatus: 403},
				{name: "no_token", method: "GET", path: "/api/private", wantStatus: 401},
				{name: "override_header", method: "GET", path: "/api/public", header: http.Header{"X-Http-Method-Override": {"DELETE"}}, wantStatus: 403},
				{name: "override_header_underscores", method: "POST", path: "/api/public", header: http.Header{"X_http_method_override": {"DELETE"}}, wantStatus: 403},
				{name: "override_query", method: "POST", path: "/api/public?_method=DELETE", wantStatus: 403},
				{name: "root_path", method: "GET", path: "/", wantStatus: 403},
				{name: "dot_dot_raw", method: "GET", path: "/api/x/../private", header: bearer(scoped), wantStatus: 403},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					rec := authzCall{method: tt.method, target: prefix + tt.path, host: "api.example.com", header: tt.header}.do(t, s.handler)
					if rec.Code != tt.wantStatus {
						t.Fatalf("%s %s%s = %d %s, want %d", tt.method, prefix, tt.path, rec.Code, rec.Body.String(), tt.wantStatus)
					}
					if rec.Code == 401 && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer ") {
						t.Errorf("401 without a challenge for allowed_client_headers")
					}
					if got := rec.Header().Get("X-Envoy-Auth-Headers-To-Remove"); got != tt.wantRemove {
						t.Errorf("x-envoy-auth-headers-to-remove = %q, want %q", got, tt.wantRemove)
					}
					for _, h := range tt.wantSet {
						if rec.Header().Get(h) == "" {
							t.Errorf("allow lacks %s", h)
						}
					}
				})
			}
		})
	}
}

// TestTraefikContract checks the documented Traefik ForwardAuth
// configurations (file provider and labels), then makes the call Traefik
// makes: GET to the address verbatim with the client's headers and its
// own X-Forwarded-*. Traefik itself does not run here.
func TestTraefikContract(t *testing.T) {
	file := yamlDoc(t, "traefik-file")
	fa := dig(t, file, "http", "middlewares", "policygate", "forwardAuth")
	labels := map[string]string{}
	for _, l := range dig(t, yamlDoc(t, "traefik-labels"), "labels").([]any) {
		k, v, _ := strings.Cut(l.(string), "=")
		labels[k] = v
	}
	const lp = "traefik.http.middlewares.policygate.forwardauth."
	address := dig(t, fa, "address").(string)
	if !strings.HasSuffix(address, "/authz") || labels[lp+"address"] != address {
		t.Errorf("address = %q (labels %q): want the same .../authz (Traefik appends no path)", address, labels[lp+"address"])
	}
	if dig(t, fa, "trustForwardHeader") != false || labels[lp+"trustForwardHeader"] != "false" {
		t.Error("trustForwardHeader must be false in both: else a client picks the decided URI")
	}
	var names []string
	for _, n := range dig(t, fa, "authResponseHeaders").([]any) {
		names = append(names, strings.ToLower(n.(string)))
	}
	if !slices.Equal(names, identityLower) || strings.ToLower(labels[lp+"authResponseHeaders"]) != strings.Join(identityLower, ",") {
		t.Errorf("authResponseHeaders = %q / %q, want the identity set", names, labels[lp+"authResponseHeaders"])
	}
	if !strings.Contains(labels["traefik.http.routers.api.middlewares"], "policygate") {
		t.Error("the labels do not put the middleware on the router")
	}

	for _, mode := range decisionCacheModes {
		t.Run(mode.name, func(t *testing.T) {
			s := newStackDecisions(t, mode.size)
			scoped := s.provider.Token(t, map[string]any{"scope": "read:messages"})
			traefik := func(method, uri string, client ...string) http.Header {
				h := with(http.Header{}, client...)
				for k, v := range map[string]string{"X-Forwarded-Method": method, "X-Forwarded-Uri": uri,
					"X-Forwarded-Host": "api.example.com", "X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"} {
					h.Set(k, v) // trustForwardHeader: false overwrites the client's
				}
				return h
			}
			for _, tc := range []struct {
				name   string
				header http.Header
				want   int
			}{
				{"scoped", traefik("GET", "/api/private-scoped?a=1", "Authorization", "Bearer "+scoped), 200},
				{"no_token", traefik("GET", "/api/private-scoped"), 401},
				{"client_original_family", traefik("GET", "/api/public", "X-Original-Uri", "/api/private-scoped"), 403},
				{"no_route", traefik("PUT", "/api/public", "Authorization", "Bearer "+scoped), 403},
			} {
				t.Run(tc.name, func(t *testing.T) {
					rec := authzCall{target: "/authz", header: tc.header}.do(t, s.handler)
					if rec.Code != tc.want {
						t.Fatalf("/authz = %d %s, want %d", rec.Code, rec.Body.String(), tc.want)
					}
					if tc.want == 200 && rec.Header().Get("X-Auth-Subject") != "auth0|alice" {
						t.Errorf("X-Auth-Subject = %q, want auth0|alice for authResponseHeaders", rec.Header().Get("X-Auth-Subject"))
					}
				})
			}
		})
	}
}
