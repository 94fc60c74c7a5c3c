package api_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/policygate/policygate/internal/api"
	"github.com/policygate/policygate/internal/authn/authntest"
)

// proxyDeadline is the proxy listener's read and write timeout in these
// tests: short, so a stream outliving it shows the deadlines are lifted.
const proxyDeadline = 200 * time.Millisecond

// seen is what the upstream received.
type seen struct {
	method, uri, host string
	header            http.Header
}

type proxyEnv struct {
	provider *authntest.Provider
	proxy    *httptest.Server // policygate in proxy mode
	admin    http.Handler
	upstream chan seen // every request the upstream receives
}

// newProxyEnv starts upstream behind policygate in proxy mode, both on
// loopback, with the decision cache on as the server runs. The upstream
// records each request and then runs handle.
func newProxyEnv(t *testing.T, handle http.HandlerFunc, mod func(*api.ProxyOptions)) *proxyEnv {
	t.Helper()
	return newProxyEnvDecisions(t, decisionCacheOn, handle, mod)
}

// newProxyEnvDecisions is newProxyEnv with the given decision cache size.
func newProxyEnvDecisions(t *testing.T, decisionCacheSize int, handle http.HandlerFunc, mod func(*api.ProxyOptions)) *proxyEnv {
	t.Helper()
	env := &proxyEnv{provider: authntest.NewProvider(t), upstream: make(chan seen, 16)}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case env.upstream <- seen{r.Method, r.RequestURI, r.Host, r.Header.Clone()}:
		default:
		}
		if handle != nil {
			handle(w, r)
			return
		}
		io.WriteString(w, "upstream says hi")
	}))
	t.Cleanup(up.Close)
	u, _ := url.Parse(up.URL)
	reg := prometheus.NewRegistry()
	g := facesGate(t, env.provider, policyWith(t, facesRoutes), decisionCacheSize, reg)
	po := &api.ProxyOptions{Upstream: u, Timeout: 5 * time.Second}
	if mod != nil {
		mod(po)
	}
	opts := api.Options{Gate: g, Registry: reg, Realm: "test", Proxy: po, SeparateAdmin: true}
	srv := httptest.NewUnstartedServer(api.NewServer(opts))
	srv.Config.ReadHeaderTimeout, srv.Config.ReadTimeout, srv.Config.WriteTimeout = time.Second, proxyDeadline, proxyDeadline
	srv.Start()
	t.Cleanup(srv.Close)
	env.proxy, env.admin = srv, api.NewAdminServer(opts)
	return env
}

func (e *proxyEnv) get(t *testing.T, path string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", e.proxy.URL+path, nil)
	for k, vs := range header {
		req.Header[k] = vs
	}
	res, err := e.proxy.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// lastSeen is the upstream's last request, or nil when none arrived.
func (e *proxyEnv) lastSeen() *seen {
	select {
	case s := <-e.upstream:
		return &s
	default:
		return nil
	}
}

// TestProxyAllowAndDeny is proxy mode's contract: what is allowed reaches
// the upstream with the gate's identity and nothing the client forged;
// what is denied never reaches it.
func TestProxyAllowAndDeny(t *testing.T) {
	for _, mode := range decisionCacheModes {
		t.Run(mode.name, func(t *testing.T) { testProxyAllowAndDeny(t, newProxyEnvDecisions(t, mode.size, nil, nil)) })
	}
}

func testProxyAllowAndDeny(t *testing.T, env *proxyEnv) {
	p := env.provider
	scoped := p.Token(t, map[string]any{"scope": "read:messages"})
	plain := p.Token(t, nil)
	auth := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	spoof := http.Header{"X-Auth-Subject": {"root"}, "X-Auth-Role": {"admin"}, "X_auth_subject": {"root"},
		"X-Decision-Id": {"forged"}, "X-Auth-Scopes": {"admin:all"}}
	tests := []struct {
		name       string
		path       string
		header     http.Header
		wantStatus int
		wantError  string
		wantSub    string // X-Auth-Subject upstream; "" absent
	}{
		{name: "public", path: "/api/public?a=1", wantStatus: 200},
		{name: "scoped", path: "/api/private-scoped", header: auth(scoped), wantStatus: 200, wantSub: "auth0|alice"},
		{name: "no_token", path: "/api/private-scoped", wantStatus: 401, wantError: "unauthorized"},
		{name: "missing_scope", path: "/api/private-scoped", header: auth(plain), wantStatus: 403, wantError: "insufficient_scope"},
		{name: "no_route", path: "/admin", header: auth(scoped), wantStatus: 403, wantError: "access_denied"},
		{name: "dot_dot", path: "/api/public/../private-scoped", wantStatus: 403, wantError: "invalid_request"},
		{name: "semicolon", path: "/api/public;x", wantStatus: 403, wantError: "invalid_request"},
		{name: "percent25", path: "/api/%2570ublic", wantStatus: 403, wantError: "invalid_request"},
		{name: "method_override", path: "/api/public", header: http.Header{"X-Http-Method": {"DELETE"}}, wantStatus: 403, wantError: "invalid_request"},
		{name: "method_override_underscores", path: "/api/public", header: http.Header{"X_http_method_override": {"DELETE"}}, wantStatus: 403, wantError: "invalid_request"},
		{name: "method_override_query", path: "/api/public?_method=DELETE", wantStatus: 403, wantError: "invalid_request"},
		{name: "spoofed_identity_anonymous", path: "/api/public", header: spoof, wantStatus: 200},
		{name: "spoofed_identity_with_token", path: "/api/private-scoped", header: with(auth(scoped).Clone(), "X-Auth-Subject", "root", "X_Auth_Subject", "root"), wantStatus: 200, wantSub: "auth0|alice"},
		{name: "connection_names_identity", path: "/api/private-scoped", header: with(auth(scoped).Clone(), "Connection", "X-Auth-Subject, X-Decision-Id, X-Auth-Scopes"), wantStatus: 200, wantSub: "auth0|alice"},
		{name: "forwarded_family_not_passed", path: "/api/public", header: http.Header{"X-Forwarded-Uri": {"/admin"}, "X-Original-Uri": {"/admin"}, "X-Original-Url": {"http://x/admin"}, "X-Forwarded-Method": {"DELETE"}}, wantStatus: 200},
		{name: "forwarded_family_underscores_not_passed", path: "/api/public", header: http.Header{"X_forwarded_uri": {"/admin"}, "X_original_url": {"http://x/admin"}, "X_Forwarded_Method": {"DELETE"}}, wantStatus: 200},
		{name: "admin_not_on_proxy_listener", path: "/metrics", wantStatus: 403, wantError: "access_denied"},
		{name: "authz_not_on_proxy_listener", path: "/authz", header: http.Header{"X-Forwarded-Uri": {"/api/public"}}, wantStatus: 403, wantError: "access_denied"},
		{name: "dev_token_absent", path: "/dev/token", wantStatus: 403, wantError: "access_denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := env.get(t, tt.path, tt.header)
			up := env.lastSeen()
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("GET %s = %d %s, want %d", tt.path, res.StatusCode, body, tt.wantStatus)
			}
			if tt.wantStatus != 200 {
				if up != nil {
					t.Errorf("the upstream saw a denied request: %+v", up)
				}
				var b struct{ Error string }
				if err := json.Unmarshal([]byte(body), &b); err != nil || b.Error != tt.wantError {
					t.Errorf("body %q, want error %q", body, tt.wantError)
				}
				if tt.wantStatus == 401 && !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), `Bearer realm="test"`) {
					t.Errorf("WWW-Authenticate = %q, want a Bearer challenge", res.Header.Get("WWW-Authenticate"))
				}
				return
			}
			if up == nil || body != "upstream says hi" {
				t.Fatalf("upstream saw %v, body %q", up, body)
			}
			if got := up.header.Get("X-Auth-Subject"); got != tt.wantSub {
				t.Errorf("upstream X-Auth-Subject = %q, want %q", got, tt.wantSub)
			}
			for name, v := range up.header {
				lower := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
				if strings.HasPrefix(lower, "x-auth-") && name != "X-Auth-Subject" && name != "X-Auth-Scopes" && name != "X-Auth-Issuer" {
					t.Errorf("upstream saw client header %s: %q", name, v)
				}
			}
			if id := up.header.Get("X-Decision-Id"); id == "" || id == "forged" || len(up.header["X-Decision-Id"]) != 1 {
				t.Errorf("upstream X-Decision-Id = %q, want the gate's", up.header["X-Decision-Id"])
			}
			if tt.wantSub == "" && (up.header.Get("X-Auth-Scopes") != "" || up.header.Get("X-Auth-Subject") != "") {
				t.Errorf("anonymous request carries identity upstream: %v", up.header)
			}
			if up.host != strings.TrimPrefix(env.proxy.URL, "http://") || up.header.Get("X-Forwarded-For") != "127.0.0.1" || up.header.Get("X-Forwarded-Host") == "" {
				t.Errorf("upstream Host %q, X-Forwarded-For %q, X-Forwarded-Host %q", up.host, up.header.Get("X-Forwarded-For"), up.header.Get("X-Forwarded-Host"))
			}
			for name, v := range up.header {
				folded := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
				if slices.Contains([]string{"x-forwarded-uri", "x-forwarded-method", "x-original-uri", "x-original-url", "x-original-method", "x-original-host"}, folded) {
					t.Errorf("upstream saw client %s: %q", name, v)
				}
			}
			if tt.header.Get("Authorization") != "" && up.header.Get("Authorization") != tt.header.Get("Authorization") {
				t.Errorf("upstream Authorization = %q, want the client's", up.header.Get("Authorization"))
			}
		})
	}
}

func TestProxyHopByHop(t *testing.T) {
	env := newProxyEnv(t, nil, nil)
	_, body := env.get(t, "/api/public", http.Header{"Connection": {"X-Custom"}, "X-Custom": {"1"}, "Keep-Alive": {"timeout=5"}, "Te": {"gzip"}, "Upgrade": {"websocket"}})
	up := env.lastSeen()
	if up == nil {
		t.Fatalf("upstream not reached: %s", body)
	}
	for _, h := range []string{"X-Custom", "Keep-Alive", "Upgrade"} {
		if v := up.header.Get(h); v != "" {
			t.Errorf("upstream saw hop-by-hop %s: %q", h, v)
		}
	}
}

func TestProxyStripToken(t *testing.T) {
	env := newProxyEnv(t, nil, func(o *api.ProxyOptions) { o.StripToken = true })
	tok := env.provider.Token(t, map[string]any{"scope": "read:messages"})
	res, _ := env.get(t, "/api/private-scoped", http.Header{"Authorization": {"Bearer " + tok}})
	up := env.lastSeen()
	if res.StatusCode != 200 || up == nil || up.header.Get("Authorization") != "" || up.header.Get("X-Auth-Subject") == "" {
		t.Errorf("status %d, upstream %+v: want 200, identity and no Authorization", res.StatusCode, up)
	}
}

// TestProxyStreams: the first part of a stream reaches the client before
// the upstream has finished, and the stream outlives the server's write
// deadline. Proxy mode sets no FlushInterval: ReverseProxy's own flushing
// of server-sent events and of responses without a Content-Length is what
// these cases hold.
func TestProxyStreams(t *testing.T) {
	tests := []struct {
		name, contentType string
	}{
		{name: "server_sent_events", contentType: "text/event-stream"},
		{name: "unknown_length", contentType: "application/octet-stream"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			next, ended := make(chan struct{}), make(chan struct{})
			env := newProxyEnv(t, func(w http.ResponseWriter, r *http.Request) {
				defer close(ended)
				w.Header().Set("Content-Type", tc.contentType)
				io.WriteString(w, "data: one\n\n")
				w.(http.Flusher).Flush() // no Content-Length: chunked
				select {
				case <-next:
				case <-time.After(10 * time.Second):
				}
				io.WriteString(w, "data: two\n\n")
			}, nil)
			tok := env.provider.Token(t, nil)
			req, _ := http.NewRequest("GET", env.proxy.URL+"/events", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			res, err := env.proxy.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if res.ContentLength != -1 {
				t.Fatalf("ContentLength = %d, want -1 (unknown)", res.ContentLength)
			}
			br := bufio.NewReader(res.Body)
			first, err := br.ReadString('\n')
			if err != nil || first != "data: one\n" {
				t.Fatalf("first part %q, %v", first, err)
			}
			select {
			case <-ended:
				t.Fatal("the first part arrived only after the upstream had finished")
			default:
			}
			time.Sleep(2 * proxyDeadline) // past the server's write deadline
			close(next)
			rest, err := io.ReadAll(br)
			if err != nil || string(rest) != "\ndata: two\n\n" {
				t.Errorf("rest of the stream %q, %v; want the second part", rest, err)
			}
		})
	}
}

// TestProxyStreamedUpload: the upstream reads the first part of a body
// before the client has sent the rest.
func TestProxyStreamedUpload(t *testing.T) {
	gotFirst := make(chan struct{})
	env := newProxyEnv(t, func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 5)
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		close(gotFirst)
		rest, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s|%s", buf, rest)
	}, nil)
	tok := env.provider.Token(t, map[string]any{"scope": "write:files"})
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", env.proxy.URL+"/upload", pr)
	req.Header.Set("Authorization", "Bearer "+tok)
	done := make(chan string, 1)
	go func() {
		res, err := env.proxy.Client().Do(req)
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		done <- fmt.Sprintf("%d %s", res.StatusCode, b)
	}()
	pw.Write([]byte("first"))
	select {
	case <-gotFirst:
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream never saw the first part of the upload")
	}
	time.Sleep(2 * proxyDeadline) // past the server's read deadline
	pw.Write([]byte("second"))
	pw.Close()
	if got := <-done; got != "200 first|second" {
		t.Errorf("upload answer %q", got)
	}
}

func TestProxyWebSocketUpgrade(t *testing.T) {
	env := newProxyEnv(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" || r.Header.Get("X-Auth-Subject") == "" {
			http.Error(w, "no upgrade or identity", 400)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		line, _ := brw.ReadString('\n')
		brw.WriteString("echo " + line)
		brw.Flush()
	}, nil)
	tok := env.provider.Token(t, nil)
	conn, err := net.Dial("tcp", strings.TrimPrefix(env.proxy.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: x.example\r\nAuthorization: Bearer %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", tok)
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade answer %v, %v", res, err)
	}
	time.Sleep(2 * proxyDeadline) // the tunnel outlives the server's deadlines
	io.WriteString(conn, "ping\n")
	if line, err := br.ReadString('\n'); err != nil || line != "echo ping\n" {
		t.Errorf("through the tunnel: %q, %v", line, err)
	}
}

func TestProxyUpstreamFaults(t *testing.T) {
	t.Run("upstream_down", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		env := newProxyEnv(t, nil, func(o *api.ProxyOptions) { o.Upstream = &url.URL{Scheme: "http", Host: addr} })
		res, body := env.get(t, "/api/public", nil)
		if res.StatusCode != 502 || !strings.Contains(body, `"error":"bad_gateway"`) {
			t.Errorf("down upstream: %d %s, want 502 JSON", res.StatusCode, body)
		}
	})
	t.Run("upstream_slow", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		env := newProxyEnv(t, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}, func(o *api.ProxyOptions) { o.Timeout = 50 * time.Millisecond })
		res, body := env.get(t, "/api/public", nil)
		if res.StatusCode != 504 || !strings.Contains(body, `"error":"gateway_timeout"`) {
			t.Errorf("slow upstream: %d %s, want 504 JSON", res.StatusCode, body)
		}
	})
}

func TestProxyAdminListener(t *testing.T) {
	env := newProxyEnv(t, nil, nil)
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		rec := httptest.NewRecorder()
		env.admin.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != 200 {
			t.Errorf("admin %s = %d, want 200", path, rec.Code)
		}
	}
	// /healthz on the proxy listener is the upstream's own (public here).
	_, body := env.get(t, "/healthz", nil)
	if body != "upstream says hi" {
		t.Errorf("proxy /healthz = %q, want the upstream's", body)
	}
}

// TestProxyStrictHosts: in proxy mode, once the policy has a host table, a
// host without its own table is refused rather than given the default
// table; the upstream sees the Host that was decided.
func TestProxyStrictHosts(t *testing.T) {
	for _, mode := range decisionCacheModes {
		t.Run(mode.name, func(t *testing.T) { testProxyStrictHosts(t, mode.size) })
	}
}

func testProxyStrictHosts(t *testing.T, decisionCacheSize int) {
	p := authntest.NewProvider(t)
	hosts := make(chan string, 16)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hosts <- r.Host
		io.WriteString(w, "upstream")
	}))
	t.Cleanup(up.Close)
	u, _ := url.Parse(up.URL)
	reg := prometheus.NewRegistry()
	g := facesGate(t, p, policyWith(t, facesHostRoutes), decisionCacheSize, reg)
	srv := httptest.NewServer(api.NewServer(api.Options{Gate: g, Registry: reg, Realm: "test",
		Proxy: &api.ProxyOptions{Upstream: u, Timeout: 5 * time.Second}, SeparateAdmin: true}))
	t.Cleanup(srv.Close)
	admin := "Bearer " + p.Token(t, map[string]any{"scope": "admin"})
	for _, tc := range []struct {
		name, host, auth string
		want             int
	}{
		{"host_with_table", "admin.example.com", admin, 200},
		{"host_with_table_upper_case", "ADMIN.example.com", admin, 200},
		{"host_with_table_no_token", "admin.example.com", "", 401},
		{"host_without_table", "other.example.com", admin, 403},
		{"address_without_table", "", "", 403},
		{"trailing_dot", "admin.example.com.", admin, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL+"/api/public", nil)
			if tc.host != "" {
				req.Host = tc.host
			}
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tc.want {
				t.Fatalf("Host %q: %d, want %d", tc.host, res.StatusCode, tc.want)
			}
			var got []string
			for len(hosts) > 0 {
				got = append(got, <-hosts)
			}
			if tc.want == 200 && (len(got) != 1 || got[0] != tc.host) || tc.want != 200 && len(got) != 0 {
				t.Errorf("upstream saw Hosts %q, want %q only on an allow", got, tc.host)
			}
		})
	}
}
