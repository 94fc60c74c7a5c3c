package api_test

import (
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/util"

	"github.com/policygate/policygate/internal/proxytest"
)

// ingressAuthLocation is the auth location ingress-nginx generates for
// nginx.ingress.kubernetes.io/auth-url (its template's lines that matter
// here); SETHEADERS stands for one proxy_set_header line per entry of the
// ConfigMap named by auth-proxy-set-headers.
const ingressAuthLocation = `
server {
	listen ADDR;
	location / {
		auth_request /_external-auth;
		proxy_pass http://UPSTREAM;
	}
	location = /_external-auth {
		internal;
		proxy_pass http://POLICYGATE/authz;
		proxy_pass_request_body off;
		proxy_set_header Content-Length "";
		proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
		proxy_set_header X-Original-Method $request_method;
		SETHEADERS
	}
}`

// ingressRoutes is facesHostRoutes with a public "/": a site's home page,
// the rule a wrong path would fall on.
const ingressRoutes = `{"routes": {
	"/": {"GET": {"access": "public"}},
	"/api/public": {"GET": {"access": "public"}},
	"/api/private-scoped": {"GET": {"access": "authenticated", "scopes": ["read:messages"]}}
},
"hosts": {"admin.example.com": {"routes": {
	"/api/public": {"GET": {"access": "authenticated", "scopes": ["admin"]}}
}}}}`

// TestIngressNginxOriginalURL runs ingress-nginx's auth location in a real
// nginx. Its X-Original-URL is built from the client's Host header, which
// the client controls twice over: a "?" in it, and an absolute-form
// request line whose host (the one nginx routes by) differs from it.
func TestIngressNginxOriginalURL(t *testing.T) {
	nginx := proxytest.FindNginx(t)
	app := newFrontedAppWith(t, ingressRoutes)
	addr := proxytest.FreeAddr(t)
	site := strings.NewReplacer("ADDR", addr, "POLICYGATE", app.policygate, "UPSTREAM", app.upstream,
		"SETHEADERS", ingressSetHeaders(t)).Replace(ingressAuthLocation)
	proxytest.RunNginx(t, nginx, site, addr)
	tests := []struct {
		name       string
		target     string // request line target
		host       string
		wantStatus int
	}{
		{name: "public", target: "/api/public", host: "api.example.com", wantStatus: 200},
		{name: "home", target: "/", host: "api.example.com", wantStatus: 200},
		{name: "scoped_without_token", target: "/api/private-scoped", host: "api.example.com", wantStatus: 401},
		{name: "host_table", target: "/api/public", host: "admin.example.com", wantStatus: 401},
		// Host: "api.example.com?" made the URL http://api.example.com?/api/private-scoped:
		// path "/" and the home page's public rule.
		{name: "query_mark_in_host", target: "/api/private-scoped", host: "api.example.com?", wantStatus: 403},
		{name: "hash_in_host", target: "/api/private-scoped", host: "api.example.com#", wantStatus: 403},
		// nginx routes by the request line's host (admin.example.com,
		// $host); the URL names the Host header's (the default table).
		{name: "absolute_form_other_host", target: "http://admin.example.com/api/public", host: "api.example.com", wantStatus: 403},
		{name: "absolute_form_same_host", target: "http://admin.example.com/api/public", host: "admin.example.com", wantStatus: 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app.drain()
			resp, _ := rawRequest(t, addr, "GET "+tt.target+" HTTP/1.1\r\nHost: "+tt.host+"\r\nConnection: close\r\n\r\n")
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("GET %s with Host %q = %d, want %d", tt.target, tt.host, resp.StatusCode, tt.wantStatus)
			}
			if s := app.last(); s != nil && tt.wantStatus != 200 {
				t.Errorf("the upstream saw %s %s, want the request stopped", s.method, s.uri)
			}
		})
	}
}

// ingressSetHeaders renders the ConfigMap of docs/forward-auth.md's
// ingress-nginx example, the one its Ingress names in
// auth-proxy-set-headers, as ingress-nginx does: a proxy_set_header line
// per entry.
func ingressSetHeaders(t *testing.T) string {
	t.Helper()
	docs := strings.Split(proxytest.DocBlock(t, "../../docs/forward-auth.md", "ingress-nginx", "yaml"), "\n---\n")
	if len(docs) != 2 {
		t.Fatalf("ingress-nginx block: %d YAML documents, want a ConfigMap and an Ingress", len(docs))
	}
	var cm, ing struct {
		Kind     string
		Metadata struct {
			Name, Namespace string
			Annotations     map[string]string
		}
		Data map[string]string
	}
	for i, v := range []any{&cm, &ing} {
		if err := util.Unmarshal([]byte(docs[i]), v); err != nil {
			t.Fatalf("ingress-nginx block, document %d: %v", i+1, err)
		}
	}
	if cm.Kind != "ConfigMap" || ing.Kind != "Ingress" {
		t.Fatalf("ingress-nginx block: kinds %q and %q, want ConfigMap and Ingress", cm.Kind, ing.Kind)
	}
	if got, want := ing.Metadata.Annotations["nginx.ingress.kubernetes.io/auth-proxy-set-headers"], cm.Metadata.Namespace+"/"+cm.Metadata.Name; got != want {
		t.Fatalf("auth-proxy-set-headers = %q, want the ConfigMap %q", got, want)
	}
	if cm.Data["X-Original-Host"] != "$host" {
		t.Errorf("the ConfigMap sets X-Original-Host to %q, want $host", cm.Data["X-Original-Host"])
	}
	var lines []string
	for name, value := range cm.Data {
		lines = append(lines, "proxy_set_header "+name+" "+value+";")
	}
	return strings.Join(lines, "\n\t\t")
}
