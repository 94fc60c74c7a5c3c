package api_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/policygate/policygate/internal/api"
	"github.com/policygate/policygate/internal/authn/authntest"
	"github.com/policygate/policygate/internal/denial"
	"github.com/policygate/policygate/internal/proxytest"
)

// frontedApp is policygate (on real HTTP, loopback) and an upstream that
// records what reaches it.
type frontedApp struct {
	provider   *authntest.Provider
	policygate string // host:port
	upstream   string // host:port
	seen       chan seen
}

func newFrontedApp(t *testing.T) *frontedApp {
	t.Helper()
	return newFrontedAppWith(t, facesHostRoutes)
}

// newFrontedAppWith is newFrontedApp with data as the route tables.
func newFrontedAppWith(t *testing.T, data string) *frontedApp {
	t.Helper()
	app := &frontedApp{provider: authntest.NewProvider(t), seen: make(chan seen, 64)}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case app.seen <- seen{r.Method, r.RequestURI, r.Host, r.Header.Clone()}:
		default:
		}
		io.WriteString(w, "upstream")
	}))
	t.Cleanup(up.Close)
	reg := prometheus.NewRegistry()
	g := facesGate(t, app.provider, policyWith(t, data), decisionCacheOn, reg)
	resource := &api.ProtectedResource{Resource: authntest.Audience, AuthorizationServers: []string{app.provider.Issuer},
		Scopes: func(context.Context) ([]string, error) { return []string{"read:messages"}, nil }}
	pg := httptest.NewServer(api.NewServer(api.Options{Gate: g, Registry: reg, Realm: "test", Resource: resource}))
	t.Cleanup(pg.Close)
	app.policygate, app.upstream = strings.TrimPrefix(pg.URL, "http://"), strings.TrimPrefix(up.URL, "http://")
	return app
}

// drain forgets what the upstream saw so far.
func (a *frontedApp) drain() {
	for {
		select {
		case <-a.seen:
		default:
			return
		}
	}
}

func (a *frontedApp) last() *seen {
	select {
	case s := <-a.seen:
		return &s
	case <-time.After(50 * time.Millisecond): // the proxy answered already
		return nil
	}
}

// checkFronted sends the same requests through a real proxy at base.
// underscoreStatus is what a client's identity header spelt with "_" gets
// through this proxy: nginx drops such headers (200, unseen), a proxy that
// passes them gets the request refused by policygate (403). Either way no
// upstream may see one.
func checkFronted(t *testing.T, app *frontedApp, base string, underscoreStatus int) {
	p := app.provider
	scoped := "Bearer " + p.Token(t, map[string]any{"scope": "read:messages"})
	plain := "Bearer " + p.Token(t, nil)
	tests := []struct {
		name       string
		host       string // "" is the proxy's address
		path       string
		header     []string
		wantStatus int
		wantChal   string // prefix of WWW-Authenticate
		wantSub    string // X-Auth-Subject the upstream sees; "" absent
	}{
		{name: "no_token", path: "/api/private-scoped", wantStatus: 401, wantChal: `Bearer realm="test"`},
		{name: "bad_token", path: "/api/private-scoped", header: []string{"Authorization", "Bearer x.y.z"}, wantStatus: 401, wantChal: `Bearer realm="test", error="invalid_token"`},
		{name: "scoped", path: "/api/private-scoped?x=1", header: []string{"Authorization", scoped}, wantStatus: 200, wantSub: "auth0|alice"},
		{name: "missing_scope", path: "/api/private-scoped", header: []string{"Authorization", plain}, wantStatus: 403},
		{name: "no_route", path: "/admin", header: []string{"Authorization", scoped}, wantStatus: 403},
		{name: "spoofed_subject_anonymous", path: "/api/public", header: []string{"X-Auth-Subject", "root", "X-Auth-Scopes", "admin", "X-Decision-Id", "forged"}, wantStatus: 200},
		{name: "spoofed_subject_with_token", path: "/api/private-scoped", header: []string{"Authorization", scoped, "X-Auth-Subject", "root"}, wantStatus: 200, wantSub: "auth0|alice"},
		{name: "spoofed_forwarded_uri", path: "/api/private-scoped", header: []string{"X-Forwarded-Uri", "/api/public", "X-Forwarded-Method", "GET"}, wantStatus: 401, wantChal: `Bearer realm="test"`},
		{name: "spoofed_original_uri", path: "/api/private-scoped", header: []string{"X-Original-Uri", "/api/public", "X-Original-Url", "http://x/api/public"}, wantStatus: 401, wantChal: `Bearer realm="test"`},
		{name: "method_override", path: "/api/public", header: []string{"X-HTTP-Method-Override", "DELETE"}, wantStatus: 403},
		{name: "method_override_query", path: "/api/public?_method=DELETE", wantStatus: 403},
		{name: "spoofed_subject_underscores", path: "/api/public", header: []string{"X_Auth_Subject", "root", "X_Decision_Id", "forged"}, wantStatus: underscoreStatus},
		{name: "method_override_query_encoded", path: "/api/public?x=1&%5Fmethod=DELETE", wantStatus: 403},
		{name: "dot_dot", path: "/api/public/../private-scoped", header: []string{"Authorization", plain}, wantStatus: 403},
		{name: "semicolon_dot_dot", path: "/api/public/..;/private-scoped", header: []string{"Authorization", plain}, wantStatus: 403},
		{name: "encoded_slash", path: "/api/public%2F..%2Fprivate-scoped", header: []string{"Authorization", plain}, wantStatus: 403},
		{name: "percent25", path: "/api/%2570ublic", wantStatus: 403},
		{name: "encoded_semicolon", path: "/api/public%3Bx", wantStatus: 403},
		{name: "double_slash", path: "//api/public", wantStatus: 403},
		// a host table applies by host: on admin.example.com /api/public needs
		// the admin scope, and /api/private-scoped does not exist
		{name: "host_table_no_token", host: "admin.example.com", path: "/api/public", wantStatus: 401, wantChal: `Bearer realm="test"`},
		{name: "host_table_missing_scope", host: "admin.example.com", path: "/api/public", header: []string{"Authorization", scoped}, wantStatus: 403},
		{name: "host_table_upper_case_port", host: "ADMIN.example.com:8443", path: "/api/public", wantStatus: 401, wantChal: `Bearer realm="test"`},
		{name: "host_table_no_route", host: "admin.example.com", path: "/api/private-scoped", header: []string{"Authorization", scoped}, wantStatus: 403},
		{name: "host_table_admin", host: "admin.example.com", path: "/api/public", header: []string{"Authorization", "Bearer " + p.Token(t, map[string]any{"scope": "admin"})}, wantStatus: 200, wantSub: "auth0|alice"},
	}
	client := &http.Client{Timeout: 20 * time.Second}
	t.Run("metadata_from_policygate", func(t *testing.T) {
		app.drain()
		res, err := client.Get(base + "/.well-known/oauth-protected-resource")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(string(body), `"authorization_servers"`) || app.last() != nil {
			t.Errorf("RFC 9728 document through the proxy: %d %s; want policygate's, not the upstream's", res.StatusCode, body)
		}
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app.drain()
			req, err := http.NewRequest("GET", base+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.host != "" {
				req.Host = tt.host
			}
			for i := 0; i+1 < len(tt.header); i += 2 {
				req.Header.Add(tt.header[i], tt.header[i+1])
			}
			res, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			up := app.last()
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("GET %s = %d %s, want %d", tt.path, res.StatusCode, body, tt.wantStatus)
			}
			if chal := res.Header.Get("WWW-Authenticate"); !strings.HasPrefix(chal, tt.wantChal) {
				t.Errorf("WWW-Authenticate = %q, want %q...", chal, tt.wantChal)
			}
			if tt.wantStatus != 200 {
				if up != nil {
					t.Errorf("the upstream saw a denied request: %s %s", up.method, up.uri)
				}
				return
			}
			if up == nil || string(body) != "upstream" {
				t.Fatalf("upstream saw nothing; body %q", body)
			}
			if got := up.header.Get("X-Auth-Subject"); got != tt.wantSub || len(up.header["X-Auth-Subject"]) > 1 {
				t.Errorf("upstream X-Auth-Subject = %q, want %q", up.header["X-Auth-Subject"], tt.wantSub)
			}
			if tt.wantSub == "" && up.header.Get("X-Auth-Scopes") != "" {
				t.Errorf("upstream X-Auth-Scopes = %q on an anonymous request", up.header.Get("X-Auth-Scopes"))
			}
			if id := up.header.Get("X-Decision-Id"); id == "" || id == "forged" || len(up.header["X-Decision-Id"]) != 1 {
				t.Errorf("upstream X-Decision-Id = %q, want policygate's one", up.header["X-Decision-Id"])
			}
			for name, v := range up.header {
				if denial.UnderscoreIdentity(name) {
					t.Errorf("upstream saw the client's %s: %q", name, v)
				}
			}
		})
	}
}

// TestNginxAuthRequest runs docs/forward-auth.md's nginx configuration in
// a real nginx in front of an upstream.
func TestNginxAuthRequest(t *testing.T) {
	nginx := proxytest.FindNginx(t)
	app := newFrontedApp(t)
	addr := proxytest.FreeAddr(t)
	site := proxytest.DocBlock(t, "../../docs/forward-auth.md", "nginx", "nginx")
	site = strings.NewReplacer("listen 80;", "listen "+addr+";",
		"127.0.0.1:3010", app.policygate, "127.0.0.1:8080", app.upstream).Replace(site)
	proxytest.RunNginx(t, nginx, site, addr)
	checkFronted(t, app, "http://"+addr, 200)
}

// TestCaddyForwardAuth runs docs/forward-auth.md's Caddyfile in a real
// Caddy (Debian's 2.6, which keeps client copies of copy_headers unless
// the configuration strips them).
func TestCaddyForwardAuth(t *testing.T) {
	caddy := proxytest.FindCaddy(t)
	app := newFrontedApp(t)
	addr := proxytest.FreeAddr(t)
	site := proxytest.DocBlock(t, "../../docs/forward-auth.md", "caddy", "caddyfile")
	_, port, _ := net.SplitHostPort(addr)
	// Any host on the port (the host-table cases), bound to loopback only.
	site = strings.NewReplacer("api.example.com {", "http://:"+port+" {",
		"127.0.0.1:3010", app.policygate, "127.0.0.1:8080", app.upstream).Replace(site)
	proxytest.RunCaddy(t, caddy, site, addr)
	checkFronted(t, app, "http://"+addr, 403)
}
