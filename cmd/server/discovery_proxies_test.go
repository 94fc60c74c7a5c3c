package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/policygate/policygate/internal/authn/authntest"
	"github.com/policygate/policygate/internal/proxytest"
)

// An MCP-style client behind nginx (forward-auth, docs/forward-auth.md): the
// 401 alone leads it to the metadata document, the document to the
// authorization server and scopes, and a token for the published resource
// gets it in.
func TestNginxDiscovery(t *testing.T) {
	nginx := proxytest.FindNginx(t)
	server := proxytest.DocBlock(t, "../../docs/forward-auth.md", "nginx", "nginx")
	p := authntest.NewProvider(t)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "upstream saw subject %q", r.Header.Get("X-Auth-Subject"))
	}))
	t.Cleanup(upstream.Close)
	nginxAddr := proxytest.FreeAddr(t)
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
	proxytest.RunNginx(t, nginx, server, nginxAddr)

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
	caddy := proxytest.FindCaddy(t)
	site := proxytest.DocBlock(t, "../../docs/forward-auth.md", "caddy", "caddyfile")
	p := authntest.NewProvider(t)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "upstream saw subject %q", r.Header.Get("X-Auth-Subject"))
	}))
	t.Cleanup(upstream.Close)
	caddyAddr := proxytest.FreeAddr(t)
	public := "http://" + caddyAddr
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
	proxytest.RunCaddy(t, caddy, site, caddyAddr)

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
