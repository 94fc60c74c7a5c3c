package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/policygate/policygate/internal/authn/authntest"
	"github.com/policygate/policygate/internal/testwait"
)

// TestHelpNamesFacesSettings: --help names every setting of the faces.
func TestHelpNamesFacesSettings(t *testing.T) {
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"--help"}, envFunc(nil), io.Discard, &stderr)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("run(--help) = %v, want flag.ErrHelp", err)
	}
	for _, name := range []string{"TRUSTED_PROXIES", "UPSTREAM_URL", "UPSTREAM_TIMEOUT", "UPSTREAM_STRIP_TOKEN",
		"ADMIN_ADDR", "PATH_ALLOW_SEMICOLON", "PATH_ALLOW_PERCENT25"} {
		if !strings.Contains(stderr.String(), name) {
			t.Errorf("--help does not name %s:\n%s", name, stderr.String())
		}
	}
}

func TestLoadConfigFaces(t *testing.T) {
	base := map[string]string{"AUTH_ISSUER": "https://idp.example.com/", "AUTH_AUDIENCE": "https://api.example.com"}
	tests := []struct {
		name    string
		dev     bool
		env     map[string]string
		check   func(FacesConfig) string // "" when fine
		wantErr []string
	}{
		{name: "defaults", check: func(c FacesConfig) string {
			if len(c.TrustedProxies) != 2 || c.TrustedProxies[0].String() != "127.0.0.0/8" || c.TrustedProxies[1].String() != "::1/128" {
				return "TrustedProxies = " + fmtPrefixes(c)
			}
			if c.UpstreamURL != nil || c.AdminAddr != "" || c.Paths.AllowSemicolon || c.Paths.AllowPercent25 {
				return "proxy mode, an admin listener or a path relaxation by default"
			}
			return ""
		}},
		{name: "proxy_mode_defaults", env: map[string]string{"UPSTREAM_URL": "http://127.0.0.1:8080"}, check: func(c FacesConfig) string {
			if c.UpstreamURL == nil || c.UpstreamTimeout != 30*time.Second || c.UpstreamStripToken || c.AdminAddr != "127.0.0.1:9090" {
				return "want proxy mode, 30s, token passed, admin on 127.0.0.1:9090"
			}
			return ""
		}},
		{name: "all_set", env: map[string]string{"UPSTREAM_URL": "https://app.internal/base", "UPSTREAM_TIMEOUT": "5s",
			"UPSTREAM_STRIP_TOKEN": "true", "ADMIN_ADDR": ":9999", "TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7",
			"PATH_ALLOW_SEMICOLON": "true", "PATH_ALLOW_PERCENT25": "1"}, check: func(c FacesConfig) string {
			if c.UpstreamTimeout != 5*time.Second || !c.UpstreamStripToken || c.AdminAddr != ":9999" ||
				len(c.TrustedProxies) != 2 || c.TrustedProxies[1].String() != "192.0.2.7/32" || !c.Paths.AllowSemicolon || !c.Paths.AllowPercent25 {
				return "settings not applied"
			}
			return ""
		}},
		{name: "bad_values", env: map[string]string{"TRUSTED_PROXIES": "10.0.0.0/33", "UPSTREAM_URL": "ftp://x", "ADMIN_ADDR": "9090",
			"PATH_ALLOW_SEMICOLON": "maybe"}, wantErr: []string{"TRUSTED_PROXIES", "UPSTREAM_URL", "ADMIN_ADDR", "PATH_ALLOW_SEMICOLON"}},
		{name: "mapped_prefix", env: map[string]string{"TRUSTED_PROXIES": "::ffff:10.0.0.0/104"}, wantErr: []string{"TRUSTED_PROXIES"}},
		{name: "proxy_settings_without_proxy", env: map[string]string{"UPSTREAM_TIMEOUT": "5s", "UPSTREAM_STRIP_TOKEN": "true"},
			wantErr: []string{"UPSTREAM_TIMEOUT", "UPSTREAM_STRIP_TOKEN"}},
		{name: "bad_timeout", env: map[string]string{"UPSTREAM_URL": "http://a:1", "UPSTREAM_TIMEOUT": "0s"}, wantErr: []string{"UPSTREAM_TIMEOUT"}},
		{name: "dev_admin_public", dev: true, env: map[string]string{"ADMIN_ADDR": ":9090"}, wantErr: []string{"ADMIN_ADDR"}},
		{name: "upstream_with_query", env: map[string]string{"UPSTREAM_URL": "http://a:1/?x=1"}, wantErr: []string{"UPSTREAM_URL"}},
		{name: "upstream_with_password", env: map[string]string{"UPSTREAM_URL": "http://u:s3cret@a:1/"}, wantErr: []string{"UPSTREAM_URL"}},
		{name: "upstream_with_user_token", env: map[string]string{"UPSTREAM_URL": "http://s3cret@a:1/"}, wantErr: []string{"UPSTREAM_URL"}},
		{name: "upstream_with_query_secret", env: map[string]string{"UPSTREAM_URL": "http://a:1/?api_key=s3cret"}, wantErr: []string{"UPSTREAM_URL"}},
		{name: "upstream_other_scheme_password", env: map[string]string{"UPSTREAM_URL": "redis://u:s3cret@a:1/"}, wantErr: []string{"UPSTREAM_URL"}},
		{name: "upstream_no_scheme_password", env: map[string]string{"UPSTREAM_URL": "u:s3cret@a:1"}, wantErr: []string{"UPSTREAM_URL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tt.env {
				env[k] = v
			}
			c, err := loadConfig(envFunc(env), tt.dev)
			checkConfigErrors(t, err, tt.wantErr)
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("the error prints the password: %v", err)
			}
			if tt.check != nil {
				if msg := tt.check(c.Faces); msg != "" {
					t.Error(msg)
				}
			}
		})
	}
}

func fmtPrefixes(c FacesConfig) string {
	var b strings.Builder
	for _, p := range c.TrustedProxies {
		b.WriteString(p.String() + " ")
	}
	return b.String()
}

var adminRE = regexp.MustCompile(`"msg":"admin listening","addr":"([^"]+)"`)

// TestRunProxyMode: run() in proxy mode puts the gate in front of an
// upstream, and health, readiness and metrics are on ADMIN_ADDR only.
func TestRunProxyMode(t *testing.T) {
	p := authntest.NewProvider(t)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "upstream:"+r.Header.Get("X-Auth-Subject"))
	}))
	t.Cleanup(upstream.Close)
	t.Chdir(t.TempDir())
	s := startUnready(t, nil, map[string]string{
		"LISTEN_ADDR": "127.0.0.1:0", "ADMIN_ADDR": "127.0.0.1:0", "UPSTREAM_URL": upstream.URL,
		"AUTH_ISSUER": p.Issuer, "AUTH_AUDIENCE": authntest.Audience, "AUTH_JWKS_URL": p.JWKSURL(),
	})
	m := adminRE.FindStringSubmatch(s.stderr.String())
	if m == nil {
		t.Fatalf("no admin listener:\n%s", s.stderr.String())
	}
	admin := "http://" + m[1]
	if !testwait.Until(30*time.Second, func() bool {
		code, _ := get(t, admin+"/readyz", "")
		return code == 200
	}) {
		t.Fatalf("not ready within 30s:\n%s", s.stderr.String())
	}
	tok := p.Token(t, map[string]any{"scope": "read:messages"})
	for _, tc := range []struct {
		url, token string
		want       int
		wantBody   string
	}{
		{url: s.url + "/api/private-scoped", token: tok, want: 200, wantBody: "upstream:auth0|alice"},
		{url: s.url + "/api/private-scoped", want: 401},
		{url: s.url + "/healthz", want: 403},
		{url: s.url + "/metrics", want: 403},
		{url: s.url + "/authz", want: 403},
		{url: admin + "/metrics", want: 200},
		{url: admin + "/healthz", want: 200},
	} {
		req, _ := http.NewRequest("GET", tc.url, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tc.want || tc.wantBody != "" && string(body) != tc.wantBody {
			t.Errorf("GET %s = %d %q, want %d %q", tc.url, res.StatusCode, body, tc.want, tc.wantBody)
		}
	}
}

// TestRunForwardAuth: /authz on the main listener answers a loopback
// proxy.
func TestRunForwardAuth(t *testing.T) {
	p := authntest.NewProvider(t)
	t.Chdir(t.TempDir())
	s := providerServer(t, p)
	req, _ := http.NewRequest("GET", s.url+"/authz", nil)
	req.Header.Set("X-Forwarded-Method", "GET")
	req.Header.Set("X-Forwarded-Uri", "/api/private-scoped")
	req.Header.Set("X-Forwarded-Host", "api.example.com")
	req.Header.Set("Authorization", "Bearer "+p.Token(t, map[string]any{"scope": "read:messages"}))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("X-Auth-Subject") != "auth0|alice" {
		t.Errorf("/authz = %d, X-Auth-Subject %q; want 200 auth0|alice", res.StatusCode, res.Header.Get("X-Auth-Subject"))
	}
}
