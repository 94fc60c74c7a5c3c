package api_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/policygate/policygate/internal/api"
	"github.com/policygate/policygate/internal/authn/authntest"
)

// corsUpstream answers CORS itself, as many frameworks do.
func corsUpstream(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "https://upstream.example")
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Set("Access-Control-Expose-Headers", "X-Total-Count")
	h.Set("Vary", "Origin, Accept-Encoding")
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	io.WriteString(w, "upstream says hi")
}

// newCORSProxy is policygate in proxy mode with the given policy data and
// CORS origins, in front of corsUpstream; upstream counts its requests.
func newCORSProxy(t *testing.T, data string, origins []string) (srv *httptest.Server, upstream *atomic.Int32) {
	t.Helper()
	p := authntest.NewProvider(t)
	upstream = new(atomic.Int32)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstream.Add(1)
		corsUpstream(w, r)
	}))
	t.Cleanup(up.Close)
	u, _ := url.Parse(up.URL)
	reg := prometheus.NewRegistry()
	g := facesGate(t, p, policyWith(t, data), decisionCacheOn, reg)
	srv = httptest.NewServer(api.NewServer(api.Options{Gate: g, Registry: reg, Realm: "test", CORSOrigins: origins,
		Proxy: &api.ProxyOptions{Upstream: u, Timeout: 5 * time.Second}, SeparateAdmin: true}))
	t.Cleanup(srv.Close)
	return srv, upstream
}

// facesPublicOptions is facesRoutes plus the rule docs/proxy-mode.md
// gives for an upstream that answers its own preflights.
var facesPublicOptions = strings.Replace(facesRoutes, `"/api/public": {"GET": {"access": "public"}},`,
	`"/api/public": {"GET": {"access": "public"}, "OPTIONS": {"access": "public"}},`, 1)

// TestProxyCORS: with CORS_ALLOWED_ORIGINS, policygate answers CORS and
// the upstream's own Access-Control-* headers and Vary: Origin are
// dropped (a second Access-Control-Allow-Origin makes browsers reject the
// answer). Without it, a preflight carries no token and is decided like
// any request: it reaches the upstream only through a public OPTIONS rule.
func TestProxyCORS(t *testing.T) {
	const app = "http://localhost:3000"
	preflight := http.Header{"Origin": {app}, "Access-Control-Request-Method": {"GET"}}
	tests := []struct {
		name         string
		data         string
		origins      []string
		method       string
		header       http.Header
		wantStatus   int
		wantOrigin   []string // Access-Control-Allow-Origin values
		wantExpose   string   // Access-Control-Expose-Headers
		wantVary     []string // Vary tokens, in order, each once
		wantUpstream bool
	}{
		{name: "policygate_cors_allowed_origin", data: facesRoutes, origins: []string{app}, method: "GET", header: http.Header{"Origin": {app}},
			wantStatus: 200, wantOrigin: []string{app}, wantExpose: "WWW-Authenticate, X-Decision-Id, X-Request-Id", wantVary: []string{"Origin", "Accept-Encoding"}, wantUpstream: true},
		{name: "policygate_cors_other_origin", data: facesRoutes, origins: []string{app}, method: "GET", header: http.Header{"Origin": {"https://evil.example"}},
			wantStatus: 200, wantVary: []string{"Origin", "Accept-Encoding"}, wantUpstream: true},
		{name: "policygate_cors_any_origin", data: facesRoutes, origins: []string{"*"}, method: "GET", header: http.Header{"Origin": {app}},
			wantStatus: 200, wantOrigin: []string{"*"}, wantExpose: "WWW-Authenticate, X-Decision-Id, X-Request-Id", wantVary: []string{"Origin", "Accept-Encoding"}, wantUpstream: true},
		{name: "policygate_cors_preflight", data: facesRoutes, origins: []string{app}, method: "OPTIONS", header: preflight,
			wantStatus: 204, wantOrigin: []string{app}, wantVary: []string{"Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"}},
		{name: "upstream_cors_preflight_without_rule", data: facesRoutes, method: "OPTIONS", header: preflight, wantStatus: 403},
		{name: "upstream_cors_preflight_public_options", data: facesPublicOptions, method: "OPTIONS", header: preflight,
			wantStatus: 204, wantOrigin: []string{"https://upstream.example"}, wantExpose: "X-Total-Count", wantVary: []string{"Origin", "Accept-Encoding"}, wantUpstream: true},
		{name: "upstream_cors_get", data: facesRoutes, method: "GET", header: http.Header{"Origin": {app}},
			wantStatus: 200, wantOrigin: []string{"https://upstream.example"}, wantExpose: "X-Total-Count", wantVary: []string{"Origin", "Accept-Encoding"}, wantUpstream: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, upstream := newCORSProxy(t, tt.data, tt.origins)
			req, _ := http.NewRequest(tt.method, srv.URL+"/api/public", nil)
			for k, vs := range tt.header {
				req.Header[k] = vs
			}
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("%s /api/public = %d, want %d", tt.method, res.StatusCode, tt.wantStatus)
			}
			if got := res.Header["Access-Control-Allow-Origin"]; !slices.Equal(got, tt.wantOrigin) {
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, tt.wantOrigin)
			}
			if got := strings.Join(res.Header["Access-Control-Expose-Headers"], ", "); got != tt.wantExpose {
				t.Errorf("Access-Control-Expose-Headers = %q, want %q", got, tt.wantExpose)
			}
			var vary []string
			for _, v := range res.Header["Vary"] {
				for tok := range strings.SplitSeq(v, ",") {
					vary = append(vary, strings.TrimSpace(tok))
				}
			}
			if tt.wantStatus != 403 && !slices.Equal(vary, tt.wantVary) {
				t.Errorf("Vary = %q, want %q", vary, tt.wantVary)
			}
			if got := upstream.Load() > 0; got != tt.wantUpstream {
				t.Errorf("upstream reached: %v, want %v", got, tt.wantUpstream)
			}
		})
	}
}
