package api_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/policygate/policygate/internal/api"
	"github.com/policygate/policygate/internal/authn/authntest"
)

// methodRoutes has a WebDAV tree open to every method and a GET-only
// route, for the methods chi's routing table does not know.
const methodRoutes = `{"routes": {
	"/dav/*": {"*": {"access": "public"}},
	"/api/public": {"GET": {"access": "public"}}
}}`

// methodOrigin is the CORS origin the method tests allow.
const methodOrigin = "https://app.example.com"

// methodCase is one request written verbatim to a real server.
type methodCase struct {
	name   string
	method string
	target string
	header string // extra header lines, each ending in \r\n

	wantStatus   int
	wantError    string // the JSON body's error, "" to skip
	wantUpstream string // the method the upstream receives, "" for none (proxy mode)
	wantHeader   [2]string
}

func (c methodCase) run(t *testing.T, addr string, upstream chan seen) {
	t.Helper()
	for len(upstream) > 0 { // a row starts with no request seen
		<-upstream
	}
	res, body := rawRequest(t, addr, c.method+" "+c.target+" HTTP/1.1\r\nHost: api.example.com\r\n"+c.header+"Connection: close\r\n\r\n")
	if res.StatusCode != c.wantStatus {
		t.Errorf("%s %s = %d %v, want %d", c.method, c.target, res.StatusCode, body, c.wantStatus)
	}
	if c.wantError != "" && body["error"] != c.wantError {
		t.Errorf("%s %s: error = %v, want %s", c.method, c.target, body["error"], c.wantError)
	}
	if name := c.wantHeader[0]; name != "" && res.Header.Get(name) != c.wantHeader[1] {
		t.Errorf("%s %s: %s = %q, want %q", c.method, c.target, name, res.Header.Get(name), c.wantHeader[1])
	}
	if upstream == nil {
		return
	}
	var got string
	select {
	case s := <-upstream:
		got = s.method + " " + s.uri
	default:
	}
	want := ""
	if c.wantUpstream != "" {
		want = c.wantUpstream + " " + c.target
	}
	if got != want {
		t.Errorf("%s %s: upstream received %q, want %q", c.method, c.target, got, want)
	}
}

// TestProxyAnyMethod: in proxy mode every request the discovery document
// or Extra does not claim goes through the gate, whatever its method.
// chi's table knows ten methods and would answer any other 405 itself;
// the gate decides a valid token method like any other (a "*" rule
// applies) and refuses a method that is not an upper-case token.
func TestProxyAnyMethod(t *testing.T) {
	p := authntest.NewProvider(t)
	upstream := make(chan seen, 4)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case upstream <- seen{method: r.Method, uri: r.RequestURI}:
		default:
		}
		io.WriteString(w, "upstream says hi")
	}))
	t.Cleanup(up.Close)
	u, _ := url.Parse(up.URL)
	reg := prometheus.NewRegistry()
	g := facesGate(t, p, policyWith(t, methodRoutes), decisionCacheOn, reg)
	opts := api.Options{Gate: g, Registry: reg, Realm: "test", SeparateAdmin: true,
		CORSOrigins: []string{methodOrigin},
		Resource:    resource("", fixedScopes("read:messages")),
		Extra: map[string]http.Handler{"/extra": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Extra", r.Method)
		})},
		Proxy: &api.ProxyOptions{Upstream: u, Timeout: 5 * time.Second}}
	srv := httptest.NewServer(api.NewServer(opts))
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")

	tests := []methodCase{
		{name: "get_on_star_rule", method: "GET", target: "/dav/x", wantStatus: 200, wantUpstream: "GET"},
		{name: "propfind_on_star_rule", method: "PROPFIND", target: "/dav/x", header: "Depth: 1\r\n", wantStatus: 200, wantUpstream: "PROPFIND"},
		{name: "mkcol_on_star_rule", method: "MKCOL", target: "/dav/new/", wantStatus: 200, wantUpstream: "MKCOL"},
		{name: "query_on_star_rule", method: "QUERY", target: "/dav/x", wantStatus: 200, wantUpstream: "QUERY"},
		{name: "purge_on_star_rule", method: "PURGE", target: "/dav/x?v=1", wantStatus: 200, wantUpstream: "PURGE"},
		{name: "propfind_with_cors", method: "PROPFIND", target: "/dav/x", header: "Origin: " + methodOrigin + "\r\n",
			wantStatus: 200, wantUpstream: "PROPFIND", wantHeader: [2]string{"Access-Control-Allow-Origin", methodOrigin}},
		{name: "preflight_for_propfind", method: "OPTIONS", target: "/dav/x",
			header:     "Origin: " + methodOrigin + "\r\nAccess-Control-Request-Method: PROPFIND\r\n",
			wantStatus: 204, wantHeader: [2]string{"Access-Control-Allow-Methods", "PROPFIND"}},
		{name: "custom_method_on_get_rule", method: "PROPFIND", target: "/api/public", wantStatus: 403, wantError: "access_denied"},
		{name: "custom_method_no_route", method: "PROPFIND", target: "/nowhere", wantStatus: 403, wantError: "access_denied"},
		{name: "lower_case_method", method: "get", target: "/dav/x", wantStatus: 403, wantError: "invalid_request"},
		{name: "lower_case_method_get_rule", method: "get", target: "/api/public", wantStatus: 403, wantError: "invalid_request"},
		{name: "mixed_case_method", method: "Propfind", target: "/dav/x", wantStatus: 403, wantError: "invalid_request"},
		{name: "method_too_long", method: strings.Repeat("M", 33), target: "/dav/x", wantStatus: 403, wantError: "invalid_request"},
		// "_" is a token character (RFC 9110 section 5.6.2): G_T is a valid
		// method, decided by the rules.
		{name: "underscore_method_on_star_rule", method: "G_T", target: "/dav/x", wantStatus: 200, wantUpstream: "G_T"},
		{name: "underscore_method_on_get_rule", method: "G_T", target: "/api/public", wantStatus: 403, wantError: "access_denied"},
		// The discovery document answers GET only: other methods are proxied
		// traffic, decided by the gate (no route here).
		{name: "discovery_get", method: "GET", target: api.WellKnownResource, wantStatus: 200},
		{name: "discovery_custom_method", method: "PROPFIND", target: api.WellKnownResource, wantStatus: 403, wantError: "access_denied"},
		// Extra is registered for every method: it keeps every method.
		{name: "extra_get", method: "GET", target: "/extra", wantStatus: 200, wantHeader: [2]string{"X-Extra", "GET"}},
		{name: "extra_custom_method", method: "PROPFIND", target: "/extra", wantStatus: 200, wantHeader: [2]string{"X-Extra", "PROPFIND"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, addr, upstream) })
	}

	t.Run("metrics_name_the_route", func(t *testing.T) {
		rec := httptest.NewRecorder()
		api.NewAdminServer(opts).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		want := `policygate_http_requests_total{method="OTHER",route="/*",status="200"} 6`
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	})
}

// TestForwardAuthAnyMethod: every call under /authz reaches forward-auth,
// whatever its method. For the Envoy HTTP family the call's method is the
// request's own, so a WebDAV method is decided by the policy and a
// malformed one refused; the built-in demo routes keep their 405.
func TestForwardAuthAnyMethod(t *testing.T) {
	p := authntest.NewProvider(t)
	reg := prometheus.NewRegistry()
	g := facesGate(t, p, policyWith(t, methodRoutes), decisionCacheOn, reg)
	srv := httptest.NewServer(api.NewServer(api.Options{Gate: g, Registry: reg, Realm: "test", CORSOrigins: []string{methodOrigin}}))
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")

	tests := []methodCase{
		{name: "envoy_propfind", method: "PROPFIND", target: "/authz/dav/x", wantStatus: 200},
		{name: "envoy_mkcol", method: "MKCOL", target: "/authz/dav/new/", wantStatus: 200},
		{name: "envoy_purge", method: "PURGE", target: "/authz/dav/x", wantStatus: 200},
		{name: "envoy_custom_method_on_get_rule", method: "PROPFIND", target: "/authz/api/public", wantStatus: 403, wantError: "access_denied"},
		{name: "envoy_lower_case_method", method: "get", target: "/authz/api/public", wantStatus: 403, wantError: "invalid_request"},
		{name: "envoy_method_too_long", method: strings.Repeat("M", 33), target: "/authz/dav/x", wantStatus: 403, wantError: "invalid_request"},
		{name: "envoy_underscore_method_on_star_rule", method: "G_T", target: "/authz/dav/x", wantStatus: 200},
		{name: "envoy_underscore_method_on_get_rule", method: "G_T", target: "/authz/api/public", wantStatus: 403, wantError: "access_denied"},
		{name: "envoy_no_cors", method: "PROPFIND", target: "/authz/dav/x", header: "Origin: " + methodOrigin + "\r\n",
			wantStatus: 200, wantHeader: [2]string{"Access-Control-Allow-Origin", ""}},
		{name: "bare_authz_no_family", method: "PROPFIND", target: "/authz", wantStatus: 403, wantError: "invalid_request"},
		{name: "forwarded_family_any_call_method", method: "PROPFIND", target: "/authz",
			header: "X-Forwarded-Method: MKCOL\r\nX-Forwarded-Uri: /dav/x\r\nX-Forwarded-Host: api.example.com\r\n", wantStatus: 200},
		// The demo routes are GET-only: other methods stay 405 with Allow.
		{name: "demo_route_custom_method", method: "PROPFIND", target: "/api/public", wantStatus: 405, wantError: "method_not_allowed",
			wantHeader: [2]string{"Allow", "GET"}},
		{name: "demo_route_lower_case_method", method: "get", target: "/api/public", wantStatus: 405, wantError: "method_not_allowed"},
		{name: "unknown_path_custom_method", method: "PROPFIND", target: "/nowhere", wantStatus: 404, wantError: "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, addr, nil) })
	}
}

// TestNoRouteNamesTrace guards what routing a method chi does not know as
// TRACE relies on: every route that takes TRACE takes every method in
// chi's table (it was registered with Handle), so no route answers TRACE
// alone. The table is what proxy mode's /* takes.
func TestNoRouteNamesTrace(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:1")
	base := api.Options{Resource: resource("", fixedScopes()),
		Extra: map[string]http.Handler{"/extra": http.NotFoundHandler()}}
	proxy := base
	proxy.Proxy = &api.ProxyOptions{Upstream: u, Timeout: time.Second}
	walk := func(h http.Handler) map[string][]string {
		methods := map[string][]string{}
		err := chi.Walk(h.(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
			methods[route] = append(methods[route], method)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return methods
	}
	proxyRoutes := walk(api.NewServer(proxy))
	table := len(proxyRoutes["/*"])
	if table < 10 {
		t.Fatalf("proxy mode's /* takes %v, want chi's whole table", proxyRoutes["/*"])
	}
	for name, methods := range map[string]map[string][]string{"api": walk(api.NewServer(base)), "proxy": proxyRoutes, "admin": walk(api.NewAdminServer(base))} {
		for route, ms := range methods {
			if slices.Contains(ms, http.MethodTrace) && len(ms) != table {
				t.Errorf("%s: %s takes TRACE with only %v", name, route, ms)
			}
		}
		if len(methods) < 3 {
			t.Errorf("%s: %d routes walked, want 3 or more", name, len(methods))
		}
	}
}
