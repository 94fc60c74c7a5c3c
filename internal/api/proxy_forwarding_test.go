package api_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestProxyForwardingHeaders: a client cannot tell the upstream its
// address, scheme, port, path prefix or request URI. Upstreams that
// trust policygate's X-Forwarded-* read these too (X-Forwarded-Prefix
// drives links and redirects in Spring and ASP.NET; X-Rewrite-URL
// replaces the request URI in IIS-era frameworks); only the values
// policygate sets arrive, in every spelling.
func TestProxyForwardingHeaders(t *testing.T) {
	env := newProxyEnv(t, nil, nil)
	tests := []struct {
		name   string
		header string
	}{
		{name: "x_real_ip", header: "X-Real-Ip"},
		{name: "true_client_ip", header: "True-Client-Ip"},
		{name: "x_client_ip", header: "X-Client-Ip"},
		{name: "x_forwarded_prefix", header: "X-Forwarded-Prefix"},
		{name: "x_forwarded_prefix_underscores", header: "X_Forwarded_Prefix"},
		{name: "x_forwarded_port", header: "X-Forwarded-Port"},
		{name: "x_forwarded_ssl", header: "X-Forwarded-Ssl"},
		{name: "x_forwarded_server", header: "X-Forwarded-Server"},
		{name: "x_forwarded_scheme", header: "X-Forwarded-Scheme"},
		{name: "x_rewrite_url", header: "X-Rewrite-Url"},
		{name: "x_rewrite_url_underscores", header: "x_rewrite_url"},
		{name: "x_forwarded_proto_underscores", header: "X_Forwarded_Proto"},
		{name: "x_forwarded_for_underscores", header: "X_Forwarded_For"},
		{name: "forwarded", header: "Forwarded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const spoof = "evil.example"
			h := http.Header{tt.header: {spoof}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-For": {"203.0.113.9"}}
			res, body := env.get(t, "/api/public", h)
			up := env.lastSeen()
			if res.StatusCode != 200 || up == nil {
				t.Fatalf("GET /api/public with %s = %d %s, upstream reached: %v", tt.header, res.StatusCode, body, up != nil)
			}
			for name, vs := range up.header {
				for _, v := range vs {
					if strings.Contains(v, spoof) {
						t.Errorf("upstream saw client %s: %q", name, v)
					}
				}
			}
			if got := up.header["X-Forwarded-Proto"]; len(got) != 1 || got[0] != "http" {
				t.Errorf("upstream X-Forwarded-Proto = %q, want policygate's [http]", got)
			}
			if got := up.header["X-Forwarded-For"]; len(got) != 1 || got[0] != "127.0.0.1" {
				t.Errorf("upstream X-Forwarded-For = %q, want policygate's [127.0.0.1]", got)
			}
		})
	}
}
