package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/policygate/policygate/internal/authn/authntest"
	"github.com/policygate/policygate/internal/testfile"
	"github.com/policygate/policygate/internal/testwait"
)

// forwardAuthBlock is a configuration block of docs/forward-auth.md, the
// one the faces' own tests run, by its policygate-test marker.
func forwardAuthBlock(t *testing.T, name, lang string) string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/forward-auth.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- policygate-test: " + name + " -->\n```" + lang + "\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatalf("docs/forward-auth.md has no %s block", name)
	}
	return string(m[1])
}

// freeAddr returns a loopback address nothing listens on (yet).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// runNginx runs nginx with server (a server block) inside a minimal http
// block, until the test ends, and waits until addr answers.
func runNginx(t *testing.T, nginx, server, addr string) {
	t.Helper()
	prefix := t.TempDir()
	tmp := filepath.Join(prefix, "tmp")
	for _, d := range []string{"logs", "tmp"} {
		os.MkdirAll(filepath.Join(prefix, d), 0o755)
	}
	conf := filepath.Join(prefix, "nginx.conf")
	testfile.Write(t, conf, fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log stderr warn;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path %[2]s/body;
	proxy_temp_path %[2]s/proxy;
	fastcgi_temp_path %[2]s/fastcgi;
	uwsgi_temp_path %[2]s/uwsgi;
	scgi_temp_path %[2]s/scgi;
%[3]s
}
`, prefix, tmp, server))
	var stderr bytes.Buffer
	cmd := exec.Command(nginx, "-p", prefix, "-c", conf)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { stopProcess(t, "nginx", cmd, exited) })
	if !testwait.Until(15*time.Second, func() bool {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return true
		}
		select {
		case err := <-exited:
			t.Fatalf("nginx exited: %v\n%s", err, stderr.String())
		default:
		}
		return false
	}) {
		t.Fatalf("nginx does not answer on %s within 15s:\n%s", addr, stderr.String())
	}
}

// An MCP-style client behind nginx (forward-auth, docs/forward-auth.md): the
// 401 alone leads it to the metadata document, the document to the
// authorization server and scopes, and a token for the published resource
// gets it in.
func TestNginxDiscovery(t *testing.T) {
	nginx := findNginx(t)
	server := forwardAuthBlock(t, "nginx", "nginx")
	p := authntest.NewProvider(t)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "upstream saw subject %q", r.Header.Get("X-Auth-Subject"))
	}))
	t.Cleanup(upstream.Close)
	nginxAddr := freeAddr(t)
	public := "http://" + nginxAddr
	t.Chdir(t.TempDir())
	s := startServer(t, nil, map[string]string{
		"LISTEN_ADDR": "127.0.0.1:0", "AUTH_ISSUER": p.Issuer, "AUTH_JWKS_URL": p.JWKSURL(),
		"AUTH_AUDIENCE": authntest.Audience + "," + public, "PUBLIC_URL": public,
		"POLICY_DIR": policyNaming(t, authntest.Audience, public), // several audiences: the table names them
	})
	for old, new := range map[string]string{
		"listen 80;":            "listen " + nginxAddr + ";",
		"http://127.0.0.1:3010": s.url,
		"http://127.0.0.1:8080": upstream.URL,
	} {
		if !strings.Contains(server, old) {
			t.Fatalf("forward-auth.md's nginx block no longer has %q", old)
		}
		server = strings.ReplaceAll(server, old, new)
	}
	runNginx(t, nginx, server, nginxAddr)

	// 1. No token: 401, and the challenge says where to look.
	resp, err := http.Get(public + "/api/private-scoped")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	m := regexp.MustCompile(`resource_metadata="([^"]+)"`).FindStringSubmatch(resp.Header.Get("WWW-Authenticate"))
	if resp.StatusCode != 401 || m == nil || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), `Bearer realm="`) {
		t.Fatalf("GET without a token through nginx = %d, WWW-Authenticate %q; want 401 naming resource_metadata", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if m[1] != public+"/.well-known/oauth-protected-resource" {
		t.Errorf("resource_metadata = %q, want the PUBLIC_URL's document", m[1])
	}

	// 2. The document, through nginx.
	resp, err = http.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	var doc metadataDoc
	err = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || doc.Resource != public || strings.Join(doc.AuthorizationServers, ",") != p.Issuer ||
		strings.Join(doc.ScopesSupported, ",") != "read:messages" {
		t.Fatalf("metadata through nginx = %d %+v (%v)", resp.StatusCode, doc, err)
	}

	// 3. A token for that resource (RFC 8707 audience) with the scope.
	token := p.Token(t, map[string]any{"aud": doc.Resource, "sub": "mcp-client", "scope": strings.Join(doc.ScopesSupported, " ")})
	req, _ := http.NewRequest("GET", public+"/api/private-scoped", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != `upstream saw subject "mcp-client"` {
		t.Errorf("GET with the token through nginx = %d %q", resp.StatusCode, body)
	}
}

// The same journey behind Caddy's forward_auth (docs/forward-auth.md).
func TestCaddyDiscovery(t *testing.T) {
	caddy, err := exec.LookPath("caddy")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("caddy is not installed")
		}
		t.Skip("caddy is not installed; CI runs this test")
	}
	site := forwardAuthBlock(t, "caddy", "caddyfile")
	p := authntest.NewProvider(t)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "upstream saw subject %q", r.Header.Get("X-Auth-Subject"))
	}))
	t.Cleanup(upstream.Close)
	caddyAddr := freeAddr(t)
	public := "http://" + caddyAddr
	dir := t.TempDir()
	t.Chdir(t.TempDir())
	s := startServer(t, nil, map[string]string{
		"LISTEN_ADDR": "127.0.0.1:0", "AUTH_ISSUER": p.Issuer, "AUTH_JWKS_URL": p.JWKSURL(),
		"AUTH_AUDIENCE": authntest.Audience + "," + public, "PUBLIC_URL": public,
		"POLICY_DIR": policyNaming(t, authntest.Audience, public), // several audiences: the table names them
	})
	for old, new := range map[string]string{
		"api.example.com {": public + " {",
		"127.0.0.1:3010":    strings.TrimPrefix(s.url, "http://"),
		"127.0.0.1:8080":    strings.TrimPrefix(upstream.URL, "http://"),
	} {
		if !strings.Contains(site, old) {
			t.Fatalf("forward-auth.md's Caddyfile no longer has %q", old)
		}
		site = strings.ReplaceAll(site, old, new)
	}
	conf := filepath.Join(dir, "Caddyfile")
	testfile.Write(t, conf, "{\n\tadmin off\n\tauto_https off\n\tstorage file_system "+filepath.Join(dir, "data")+"\n}\n"+site)
	var stderr bytes.Buffer
	cmd := exec.Command(caddy, "run", "--config", conf, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_DATA_HOME="+dir)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { stopProcess(t, "caddy", cmd, exited) })
	if !testwait.Until(15*time.Second, func() bool {
		if c, err := net.DialTimeout("tcp", caddyAddr, time.Second); err == nil {
			c.Close()
			return true
		}
		select {
		case err := <-exited:
			t.Fatalf("caddy exited: %v\n%s", err, stderr.String())
		default:
		}
		return false
	}) {
		t.Fatalf("caddy does not answer on %s within 15s:\n%s", caddyAddr, stderr.String())
	}

	resp, err := http.Get(public + "/api/private-scoped")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	meta := regexp.MustCompile(`resource_metadata="([^"]+)"`).FindStringSubmatch(resp.Header.Get("WWW-Authenticate"))
	if resp.StatusCode != 401 || meta == nil || meta[1] != public+"/.well-known/oauth-protected-resource" {
		t.Fatalf("GET without a token through caddy = %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	resp, err = http.Get(meta[1])
	if err != nil {
		t.Fatal(err)
	}
	var d metadataDoc
	err = json.NewDecoder(resp.Body).Decode(&d)
	resp.Body.Close()
	if err != nil || d.Resource != public || strings.Join(d.AuthorizationServers, ",") != p.Issuer {
		t.Fatalf("metadata through caddy = %d %+v (%v)", resp.StatusCode, d, err)
	}
	token := p.Token(t, map[string]any{"aud": d.Resource, "sub": "mcp-client", "scope": "read:messages"})
	req, _ := http.NewRequest("GET", public+"/api/private-scoped", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != `upstream saw subject "mcp-client"` {
		t.Errorf("GET with the token through caddy = %d %q", resp.StatusCode, body)
	}
}
