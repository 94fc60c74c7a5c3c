package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/policygate/policygate/internal/api"
	"github.com/policygate/policygate/internal/authn/authntest"
)

// authzCall is one call of a proxy to /authz.
type authzCall struct {
	remote string // peer address; "" is 127.0.0.1
	method string // the call's method; "" is GET
	target string // the call's request target; "" is /authz
	host   string // the call's Host; "" is policygate.internal
	header http.Header
}

func (c authzCall) do(t *testing.T, h http.Handler) *httptest.ResponseRecorder {
	t.Helper()
	method, target, host, remote := c.method, c.target, c.host, c.remote
	if method == "" {
		method = "GET"
	}
	if target == "" {
		target = "/authz"
	}
	if host == "" {
		host = "policygate.internal"
	}
	if remote == "" {
		remote = "127.0.0.1:40000"
	}
	req := httptest.NewRequest(method, target, nil)
	req.Host, req.RemoteAddr = host, remote
	for k, vs := range c.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// fwd builds the forwarded family (Traefik, Caddy) for method and uri.
func fwd(method, uri string, extra ...string) http.Header {
	h := http.Header{"X-Forwarded-Method": {method}, "X-Forwarded-Uri": {uri}, "X-Forwarded-Host": {"api.example.com"}}
	return with(h, extra...)
}

// orig builds the original family (nginx) for method and uri.
func orig(method, uri string, extra ...string) http.Header {
	h := http.Header{"X-Original-Method": {method}, "X-Original-Uri": {uri}, "X-Original-Host": {"api.example.com"}}
	return with(h, extra...)
}

// with adds name, value pairs.
func with(h http.Header, kv ...string) http.Header {
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// TestForwardAuth is the /authz contract for every header family.
func TestForwardAuth(t *testing.T) {
	for _, mode := range decisionCacheModes {
		t.Run(mode.name, func(t *testing.T) { testForwardAuth(t, newStackDecisions(t, mode.size)) })
	}
}

func testForwardAuth(t *testing.T, s *stack) {
	p := s.provider
	plain := p.Token(t, map[string]any{"sub": "alice"})
	scoped := p.Token(t, map[string]any{"sub": "alice", "scope": "openid read:messages"})
	auth := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	tests := []struct {
		name       string
		call       authzCall
		wantStatus int
		wantError  string // JSON error of a denial
		wantChal   string // substring of WWW-Authenticate; "" for none
		wantSub    string // X-Auth-Subject of an allow
	}{
		// forwarded family (Traefik, Caddy)
		{name: "forwarded_public", call: authzCall{header: fwd("GET", "/api/public")}, wantStatus: 200},
		{name: "forwarded_scoped", call: authzCall{header: fwd("GET", "/api/private-scoped?x=1", auth(scoped)...)}, wantStatus: 200, wantSub: "alice"},
		{name: "forwarded_no_token", call: authzCall{header: fwd("GET", "/api/private")}, wantStatus: 401, wantError: "unauthorized", wantChal: `Bearer realm="test"`},
		{name: "forwarded_bad_token", call: authzCall{header: fwd("GET", "/api/private", auth("garbage")...)}, wantStatus: 401, wantError: "invalid_token", wantChal: `error="invalid_token"`},
		{name: "forwarded_malformed", call: authzCall{header: fwd("GET", "/api/private", "Authorization", "Basic eA==")}, wantStatus: 401, wantError: "invalid_request", wantChal: `error="invalid_request"`},
		{name: "forwarded_missing_scope", call: authzCall{header: fwd("GET", "/api/private-scoped", auth(plain)...)}, wantStatus: 403, wantError: "insufficient_scope", wantChal: `scope="read:messages"`},
		{name: "forwarded_no_route", call: authzCall{header: fwd("GET", "/nothing/here", auth(scoped)...)}, wantStatus: 403, wantError: "access_denied"},
		{name: "forwarded_head_uses_get_rules", call: authzCall{header: fwd("HEAD", "/api/private-scoped", auth(scoped)...)}, wantStatus: 200, wantSub: "alice"},
		{name: "forwarded_head_needs_get_scope", call: authzCall{header: fwd("HEAD", "/api/private-scoped", auth(plain)...)}, wantStatus: 403, wantError: "insufficient_scope", wantChal: `scope="read:messages"`},
		{name: "forwarded_wrong_method", call: authzCall{header: fwd("DELETE", "/api/private", auth(scoped)...)}, wantStatus: 403, wantError: "access_denied"},
		{name: "forwarded_lower_case_method", call: authzCall{header: fwd("get", "/api/public")}, wantStatus: 403, wantError: "invalid_request"},
		{name: "forwarded_missing_uri", call: authzCall{header: http.Header{"X-Forwarded-Method": {"GET"}, "X-Forwarded-Host": {"a"}}}, wantStatus: 403, wantError: "invalid_request"},
		{name: "forwarded_missing_host", call: authzCall{header: http.Header{"X-Forwarded-Method": {"GET"}, "X-Forwarded-Uri": {"/api/public"}}}, wantStatus: 403, wantError: "invalid_request"},
		{name: "forwarded_uri_twice", call: authzCall{header: fwd("GET", "/api/public", "X-Forwarded-Uri", "/api/private")}, wantStatus: 403, wantError: "invalid_request"},
		{name: "forwarded_host_twice", call: authzCall{header: fwd("GET", "/api/public", "X-Forwarded-Host", "b.example.com")}, wantStatus: 403, wantError: "invalid_request"},
		{name: "forwarded_absolute_uri", call: authzCall{header: fwd("GET", "http://x/api/public")}, wantStatus: 403, wantError: "invalid_request"},
		{name: "forwarded_host_trailing_dot", call: authzCall{header: with(http.Header{"X-Forwarded-Method": {"GET"}, "X-Forwarded-Uri": {"/api/public"}, "X-Forwarded-Host": {"api.example.com."}})}, wantStatus: 403, wantError: "invalid_request"},
		{name: "forwarded_host_non_ascii", call: authzCall{header: with(http.Header{"X-Forwarded-Method": {"GET"}, "X-Forwarded-Uri": {"/api/public"}, "X-Forwarded-Host": {"exämple.com"}})}, wantStatus: 403, wantError: "invalid_request"},
		{name: "method_override", call: authzCall{header: fwd("POST", "/api/public", "X-HTTP-Method-Override", "DELETE")}, wantStatus: 403, wantError: "invalid_request"},
		{name: "method_override_x_method", call: authzCall{header: fwd("GET", "/api/public", "X-Method-Override", "DELETE")}, wantStatus: 403, wantError: "invalid_request"},
		{name: "identity_underscores_forwarded", call: authzCall{header: fwd("GET", "/api/public", "X_Auth_Subject", "root")}, wantStatus: 403, wantError: "invalid_request"},
		{name: "identity_underscores_original", call: authzCall{header: http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"/api/public"}, "X-Original-Host": {"api.example.com"}, "X-auth_scopes": {"admin"}}}, wantStatus: 403, wantError: "invalid_request"},
		{name: "identity_underscores_decision_id", call: authzCall{header: fwd("GET", "/api/public", "X_decision_id", "forged")}, wantStatus: 403, wantError: "invalid_request"},
		{name: "other_underscore_header_passes", call: authzCall{header: fwd("GET", "/api/public", "X_request_id", "r1")}, wantStatus: 200},
		{name: "method_override_underscores", call: authzCall{header: fwd("POST", "/api/public", "X_HTTP_Method_Override", "DELETE")}, wantStatus: 403, wantError: "invalid_request"},
		{name: "method_override_query", call: authzCall{header: fwd("POST", "/api/public?_method=DELETE")}, wantStatus: 403, wantError: "invalid_request"},
		{name: "method_override_query_original", call: authzCall{header: http.Header{"X-Original-Method": {"POST"}, "X-Original-Uri": {"/api/public?x=1&.method=DELETE"}, "X-Original-Host": {"api.example.com"}}}, wantStatus: 403, wantError: "invalid_request"},
		{name: "query_naming_method_in_value", call: authzCall{header: fwd("GET", "/api/public?q=_method")}, wantStatus: 200},
		// path tricks
		{name: "dot_dot", call: authzCall{header: fwd("GET", "/api/public/../private")}, wantStatus: 403, wantError: "invalid_request"},
		{name: "semicolon_dot_dot", call: authzCall{header: fwd("GET", "/api/public/..;/private")}, wantStatus: 403, wantError: "invalid_request"},
		{name: "encoded_semicolon", call: authzCall{header: fwd("GET", "/api/public%3B/x")}, wantStatus: 403, wantError: "invalid_request"},
		{name: "percent25", call: authzCall{header: fwd("GET", "/api/%2570ublic")}, wantStatus: 403, wantError: "invalid_request"},
		{name: "encoded_question_mark", call: authzCall{header: fwd("GET", "/api/public%3F/x")}, wantStatus: 403, wantError: "invalid_request"},
		{name: "encoded_hash", call: authzCall{header: fwd("GET", "/api/public%23x")}, wantStatus: 403, wantError: "invalid_request"},
		{name: "double_slash", call: authzCall{header: fwd("GET", "//api/public")}, wantStatus: 403, wantError: "invalid_request"},
		{name: "encoded_slash", call: authzCall{header: fwd("GET", "/api%2Fpublic")}, wantStatus: 403, wantError: "invalid_request"},
		{name: "trailing_slash_no_route", call: authzCall{header: fwd("GET", "/api/public/")}, wantStatus: 403, wantError: "access_denied"},
		{name: "query_split_off", call: authzCall{header: fwd("GET", "/api/public?/../admin")}, wantStatus: 200},
		// original family (nginx, ingress-nginx)
		{name: "original_scoped", call: authzCall{header: orig("GET", "/api/private-scoped", auth(scoped)...)}, wantStatus: 200, wantSub: "alice"},
		{name: "original_no_token", call: authzCall{header: orig("GET", "/api/private")}, wantStatus: 401, wantError: "unauthorized", wantChal: `Bearer realm="test"`},
		{name: "original_url_only", call: authzCall{header: http.Header{"X-Original-Method": {"GET"}, "X-Original-Url": {"https://api.example.com/api/public?a=b"}}}, wantStatus: 200},
		{name: "original_url_and_uri_agree", call: authzCall{header: orig("GET", "/api/public?a=b", "X-Original-Url", "https://api.example.com/api/public?a=b")}, wantStatus: 200},
		{name: "original_url_and_uri_differ", call: authzCall{header: orig("GET", "/api/public", "X-Original-Url", "https://api.example.com/api/private")}, wantStatus: 403, wantError: "invalid_request"},
		{name: "original_url_relative", call: authzCall{header: http.Header{"X-Original-Method": {"GET"}, "X-Original-Url": {"/api/public"}}}, wantStatus: 403, wantError: "invalid_request"},
		{name: "original_url_userinfo", call: authzCall{header: http.Header{"X-Original-Method": {"GET"}, "X-Original-Url": {"https://u@api.example.com/api/public"}}}, wantStatus: 403, wantError: "invalid_request"},
		// ingress-nginx writes $http_host into the URL: a "?" or "#" in
		// the client's Host header must not end the host and make the
		// rest of the URL a query of "/".
		{name: "original_url_query_in_host", call: authzCall{header: http.Header{"X-Original-Method": {"GET"}, "X-Original-Url": {"http://api.example.com?/api/private"}}}, wantStatus: 403, wantError: "invalid_request"},
		{name: "original_url_fragment_in_host", call: authzCall{header: http.Header{"X-Original-Method": {"GET"}, "X-Original-Url": {"http://api.example.com#/api/private"}}}, wantStatus: 403, wantError: "invalid_request"},
		{name: "original_url_no_path_query", call: authzCall{header: http.Header{"X-Original-Method": {"GET"}, "X-Original-Url": {"http://a?b/api/public"}}}, wantStatus: 403, wantError: "invalid_request"},
		{name: "original_missing_method", call: authzCall{header: http.Header{"X-Original-Uri": {"/api/public"}, "X-Original-Host": {"a"}}}, wantStatus: 403, wantError: "invalid_request"},
		// envoy family (Envoy's HTTP service: path_prefix /authz)
		{name: "envoy_public", call: authzCall{target: "/authz/api/public?q=1", host: "api.example.com"}, wantStatus: 200},
		{name: "envoy_scoped", call: authzCall{target: "/authz/api/private-scoped", header: with(http.Header{}, auth(scoped)...)}, wantStatus: 200, wantSub: "alice"},
		{name: "envoy_no_token", call: authzCall{target: "/authz/api/private"}, wantStatus: 401, wantError: "unauthorized", wantChal: `Bearer realm="test"`},
		{name: "envoy_method_is_the_call", call: authzCall{method: "POST", target: "/authz/api/public"}, wantStatus: 403, wantError: "access_denied"},
		{name: "envoy_raw_target_dot_dot", call: authzCall{target: "/authz/api/public/../private"}, wantStatus: 403, wantError: "invalid_request"},
		{name: "envoy_raw_encoded_dots", call: authzCall{target: "/authz/api/public/%2e%2e/private"}, wantStatus: 403, wantError: "invalid_request"},
		{name: "envoy_double_slash", call: authzCall{target: "/authz//api/public"}, wantStatus: 403, wantError: "invalid_request"},
		// families together, none
		{name: "two_families", call: authzCall{header: fwd("GET", "/api/public", "X-Original-Uri", "/api/private")}, wantStatus: 403, wantError: "invalid_request"},
		{name: "sub_path_and_forwarded", call: authzCall{target: "/authz/api/public", header: fwd("GET", "/api/public")}, wantStatus: 403, wantError: "invalid_request"},
		{name: "bare_authz", call: authzCall{}, wantStatus: 403, wantError: "invalid_request"},
		{name: "bare_authz_with_query", call: authzCall{target: "/authz?uri=/api/public"}, wantStatus: 403, wantError: "invalid_request"},
		// who may ask
		{name: "untrusted_caller_valid_token", call: authzCall{remote: "203.0.113.7:5000", header: fwd("GET", "/api/private-scoped", auth(scoped)...)}, wantStatus: 403, wantError: "access_denied"},
		{name: "ipv6_loopback", call: authzCall{remote: "[::1]:5000", header: fwd("GET", "/api/public")}, wantStatus: 200},
		{name: "ipv4_mapped_loopback", call: authzCall{remote: "[::ffff:127.0.0.1]:5000", header: fwd("GET", "/api/public")}, wantStatus: 200},
		{name: "ipv4_mapped_outside", call: authzCall{remote: "[::ffff:203.0.113.7]:5000", header: fwd("GET", "/api/public")}, wantStatus: 403, wantError: "access_denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := tt.call.do(t, s.handler)
			if rec.Code != tt.wantStatus {
				t.Fatalf("/authz = %d %s, want %d", rec.Code, rec.Body.String(), tt.wantStatus)
			}
			chal := rec.Header().Get("WWW-Authenticate")
			if tt.wantChal == "" && chal != "" || !strings.Contains(chal, tt.wantChal) {
				t.Errorf("WWW-Authenticate = %q, want %q", chal, tt.wantChal)
			}
			if tt.wantStatus == 200 {
				if rec.Body.Len() != 0 || rec.Header().Get("X-Decision-Id") == "" || rec.Header().Get("X-Auth-Subject") != tt.wantSub {
					t.Errorf("allow: body %q, X-Decision-Id %q, X-Auth-Subject %q; want no body, an id, subject %q",
						rec.Body.String(), rec.Header().Get("X-Decision-Id"), rec.Header().Get("X-Auth-Subject"), tt.wantSub)
				}
				return
			}
			var body struct{ Error, Error_description string }
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error != tt.wantError || body.Error_description == "" {
				t.Errorf("body %q (%v), want error %q with a description", rec.Body.String(), err, tt.wantError)
			}
			for _, h := range []string{"X-Auth-Subject", "X-Auth-Scopes", "X-Auth-Issuer"} {
				if v := rec.Header().Get(h); v != "" {
					t.Errorf("denial carries %s: %q", h, v)
				}
			}
		})
	}
}

// TestForwardAuthTrustedProxies: TRUSTED_PROXIES replaces the loopback
// default, and a loopback caller outside it is refused too.
func TestForwardAuthTrustedProxies(t *testing.T) {
	s := newStack(t)
	h := api.NewServer(api.Options{Gate: s.gate, Realm: "test", TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}})
	for _, tc := range []struct {
		remote string
		want   int
	}{{"10.1.2.3:1", 200}, {"127.0.0.1:1", 403}, {"10.2.0.1:1", 403}, {"garbage", 403}} {
		rec := authzCall{remote: tc.remote, header: fwd("GET", "/api/public")}.do(t, h)
		if rec.Code != tc.want {
			t.Errorf("caller %s: /authz = %d, want %d", tc.remote, rec.Code, tc.want)
		}
	}
}

// TestForwardAuthHostTables: a host with its own table is decided by it,
// whichever family names the host; any other host uses the default table.
func TestForwardAuthHostTables(t *testing.T) {
	for _, mode := range decisionCacheModes {
		t.Run(mode.name, func(t *testing.T) { testForwardAuthHostTables(t, mode.size) })
	}
}

func testForwardAuthHostTables(t *testing.T, decisionCacheSize int) {
	p := authntest.NewProvider(t)
	reg := prometheus.NewRegistry()
	h := api.NewServer(api.Options{Gate: facesGate(t, p, policyWith(t, facesHostRoutes), decisionCacheSize, reg), Registry: reg, Realm: "test"})
	admin := "Bearer " + p.Token(t, map[string]any{"scope": "admin"})
	tests := []struct {
		name string
		call authzCall
		want int
	}{
		{"default_host_public", authzCall{header: fwd("GET", "/api/public")}, 200},
		{"other_host_default_table", authzCall{header: with(http.Header{"X-Forwarded-Method": {"GET"}, "X-Forwarded-Uri": {"/api/public"}, "X-Forwarded-Host": {"other.example.com"}})}, 200},
		{"forwarded_host_table", authzCall{header: with(http.Header{"X-Forwarded-Method": {"GET"}, "X-Forwarded-Uri": {"/api/public"}, "X-Forwarded-Host": {"Admin.Example.com:443"}})}, 401},
		{"forwarded_host_table_scoped", authzCall{header: with(http.Header{"X-Forwarded-Method": {"GET"}, "X-Forwarded-Uri": {"/api/public"}, "X-Forwarded-Host": {"admin.example.com"}}, "Authorization", admin)}, 200},
		{"original_host_table", authzCall{header: with(http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"/api/public"}, "X-Original-Host": {"admin.example.com"}})}, 401},
		{"original_url_host_table", authzCall{header: with(http.Header{"X-Original-Method": {"GET"}, "X-Original-Url": {"https://admin.example.com/api/public"}})}, 401},
		{"original_url_and_host_agree", authzCall{header: with(http.Header{"X-Original-Method": {"GET"}, "X-Original-Url": {"https://Admin.Example.com:8443/api/public"}, "X-Original-Host": {"admin.example.com"}})}, 401},
		// nginx routes an absolute-form request by its request line's
		// host ($host) while ingress-nginx's URL carries the Host header.
		{"original_url_and_host_differ", authzCall{header: with(http.Header{"X-Original-Method": {"GET"}, "X-Original-Url": {"https://api.example.com/api/public"}, "X-Original-Host": {"admin.example.com"}})}, 403},
		{"original_url_and_bad_host", authzCall{header: with(http.Header{"X-Original-Method": {"GET"}, "X-Original-Url": {"https://admin.example.com/api/public"}, "X-Original-Host": {"admin.example.com."}})}, 403},
		{"envoy_host_table", authzCall{target: "/authz/api/public", host: "admin.example.com"}, 401},
		{"host_table_has_no_default_routes", authzCall{header: with(http.Header{"X-Forwarded-Method": {"GET"}, "X-Forwarded-Uri": {"/api/private-scoped"}, "X-Forwarded-Host": {"admin.example.com"}}, "Authorization", admin)}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if rec := tt.call.do(t, h); rec.Code != tt.want {
				t.Errorf("/authz = %d %s, want %d", rec.Code, rec.Body.String(), tt.want)
			}
		})
	}
}

// TestForwardAuthNoCORS: /authz answers proxies, never browsers, so CORS
// never applies there, even when configured.
func TestForwardAuthNoCORS(t *testing.T) {
	s := newStack(t)
	h := api.NewServer(api.Options{Gate: s.gate, Realm: "test", CORSOrigins: []string{"https://app.example.com"}})
	for _, call := range []authzCall{
		{method: "OPTIONS", target: "/authz/api/public", header: http.Header{"Origin": {"https://app.example.com"}, "Access-Control-Request-Method": {"GET"}}},
		{header: with(fwd("GET", "/api/public"), "Origin", "https://app.example.com")},
	} {
		rec := call.do(t, h)
		if v := rec.Header().Get("Access-Control-Allow-Origin"); v != "" || rec.Code == http.StatusNoContent {
			t.Errorf("%s %s: %d, Access-Control-Allow-Origin %q; want no CORS", call.method, call.target, rec.Code, v)
		}
	}
}
