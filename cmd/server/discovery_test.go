package main

import (
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/policygate/policygate/internal/authn/authntest"
	"github.com/policygate/policygate/internal/testfile"
)

func TestLoadDiscoveryConfig(t *testing.T) {
	base := map[string]string{"AUTH_ISSUER": "https://idp.example.com/", "AUTH_AUDIENCE": "https://api.example.com"}
	tests := []struct {
		name    string
		env     map[string]string
		dev     bool
		wantErr []string
		want    discoveryConfig
	}{
		{name: "nothing_set"},
		{name: "public_url_is_an_audience", env: map[string]string{"PUBLIC_URL": "https://api.example.com"}, want: discoveryConfig{PublicURL: "https://api.example.com"}},
		{name: "public_url_not_an_audience", env: map[string]string{"PUBLIC_URL": "https://other.example.com"}, wantErr: []string{"PUBLIC_URL"}},
		{name: "public_url_http", env: map[string]string{"PUBLIC_URL": "http://api.example.com"}, wantErr: []string{"PUBLIC_URL"}},
		{name: "public_url_query", env: map[string]string{"PUBLIC_URL": "https://api.example.com?x=1"}, wantErr: []string{"PUBLIC_URL"}},
		{name: "public_url_relative", env: map[string]string{"PUBLIC_URL": "/api"}, wantErr: []string{"PUBLIC_URL"}},
		{name: "dev_ignores_public_url", env: map[string]string{"PUBLIC_URL": "https://other.example.com"}, dev: true},
		{name: "documentation", env: map[string]string{"RESOURCE_DOCUMENTATION_URL": "https://docs.example.com/api"}, want: discoveryConfig{Documentation: "https://docs.example.com/api"}},
		{name: "documentation_relative", env: map[string]string{"RESOURCE_DOCUMENTATION_URL": "docs"}, wantErr: []string{"RESOURCE_DOCUMENTATION_URL"}},
		{name: "both_wrong", env: map[string]string{"PUBLIC_URL": "ftp://x", "RESOURCE_DOCUMENTATION_URL": "docs"}, wantErr: []string{"PUBLIC_URL", "RESOURCE_DOCUMENTATION_URL"}},
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
			cfg, err := loadConfig(envFunc(env), tt.dev)
			if err != nil {
				t.Fatal(err)
			}
			got, err := loadDiscoveryConfig(envFunc(env), cfg)
			checkConfigErrors(t, err, tt.wantErr)
			if got != tt.want {
				t.Errorf("loadDiscoveryConfig() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

type metadataDoc struct {
	Resource             string   `json:"resource"`
	AuthorizationServers []string `json:"authorization_servers"`
	ScopesSupported      []string `json:"scopes_supported"`
	BearerMethods        []string `json:"bearer_methods_supported"`
	Documentation        string   `json:"resource_documentation"`
}

func metadata(t *testing.T, url string) metadataDoc {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d metadataDoc
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s = %d: %v", url, resp.StatusCode, err)
	}
	return d
}

func challenge(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("WWW-Authenticate")
}

// The document follows the route data: an edit of data.json changes
// scopes_supported without a restart. Challenges name the document by
// PUBLIC_URL.
func TestRunDiscovery(t *testing.T) {
	p := authntest.NewProvider(t)
	dir := copyPolicies(t)
	t.Chdir(t.TempDir())
	s := startServer(t, nil, map[string]string{
		"LISTEN_ADDR": "127.0.0.1:0", "AUTH_ISSUER": p.Issuer, "AUTH_AUDIENCE": authntest.Audience, "POLICY_DIR": dir,
		"PUBLIC_URL": authntest.Audience, "RESOURCE_DOCUMENTATION_URL": "https://docs.example.com/api",
	})
	d := metadata(t, s.url+"/.well-known/oauth-protected-resource")
	if d.Resource != authntest.Audience || strings.Join(d.AuthorizationServers, ",") != p.Issuer ||
		strings.Join(d.ScopesSupported, ",") != "read:messages" || strings.Join(d.BearerMethods, ",") != "header" ||
		d.Documentation != "https://docs.example.com/api" {
		t.Errorf("metadata = %+v", d)
	}
	want := `Bearer realm="` + authntest.Audience + `", resource_metadata="` + authntest.Audience + `/.well-known/oauth-protected-resource"`
	if got := challenge(t, s.url+"/api/private"); got != want {
		t.Errorf("401 challenge = %q, want %q", got, want)
	}

	testfile.Write(t, filepath.Join(dir, "authz", "data.json"), `{"routes": {
		"/api/public": {"GET": {"access": "public"}},
		"/api/private": {"GET": {"access": "authenticated", "scopes": ["read:private"]}},
		"/api/private-scoped": {"GET": {"access": "authenticated", "scopes": ["read:admin", "read:messages"]}}
	}}`)
	eventually(t, "scopes_supported follows the edit", func() bool {
		return strings.Join(metadata(t, s.url+"/.well-known/oauth-protected-resource").ScopesSupported, ",") == "read:admin,read:messages,read:private"
	})
}

// --dev publishes its own address as the resource and names it in its
// challenges; its tokens carry that audience too.
func TestRunDevDiscovery(t *testing.T) {
	t.Chdir(t.TempDir())
	s := startServer(t, []string{"--dev"}, map[string]string{"LISTEN_ADDR": "127.0.0.1:0"})
	d := metadata(t, s.url+"/.well-known/oauth-protected-resource")
	if d.Resource != s.url || strings.Join(d.AuthorizationServers, ",") != s.url+"/" || strings.Join(d.ScopesSupported, ",") != "read:messages" {
		t.Errorf("dev metadata = %+v, want resource %s", d, s.url)
	}
	if got := challenge(t, s.url+"/api/private"); !strings.HasPrefix(got, `Bearer realm="`) || !strings.HasSuffix(got, `, resource_metadata="`+s.url+`/.well-known/oauth-protected-resource"`) {
		t.Errorf("dev 401 challenge = %q", got)
	}
	token := regexp.MustCompile(`export SCOPED_TOKEN=(\S+)`).FindStringSubmatch(s.stdout.String())
	if token == nil {
		t.Fatal("no token in the banner")
	}
	if got, body := get(t, s.url+"/api/private-scoped", token[1]); got != 200 {
		t.Errorf("dev token = %d %v, want 200", got, body)
	}
}

// --help names every setting the server reads.
func TestHelpNamesSettings(t *testing.T) {
	var stderr syncBuffer
	err := run(t.Context(), []string{"--help"}, envFunc(nil), &syncBuffer{}, &stderr)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("run(--help) = %v", err)
	}
	for _, name := range []string{"PUBLIC_URL", "RESOURCE_DOCUMENTATION_URL", "TRACE_SUBJECT", "OTEL_EXPORTER_OTLP_ENDPOINT", "server decide"} {
		if !strings.Contains(stderr.String(), name) {
			t.Errorf("--help does not name %s:\n%s", name, stderr.String())
		}
	}
}
