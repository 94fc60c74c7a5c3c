package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/policygate/policygate/internal/authn/authntest"
	"github.com/policygate/policygate/internal/testfile"
)

func TestLoadConfigIssuers(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		path := filepath.Join(dir, name)
		testfile.Write(t, path, content)
		return path
	}
	yamlFile := file("two.yaml", `
issuers:
  - issuer: https://a.example.com/
    audiences: [https://api.a.example.com]
    jwks_url: https://a.example.com/keys
  - issuer: https://b.example.com/
    audiences: [https://b1.example.com, https://b2.example.com]
    algorithms: [ES256]
`)
	jsonFile := file("one.json", `{"issuers": [{"issuer": "https://a.example.com/", "audiences": ["https://api"]}]}`)
	tests := []struct {
		name    string
		env     map[string]string
		wantErr []string
		want    []issuerConfig
		realm   string
	}{
		{
			name:  "audience_list",
			env:   map[string]string{"AUTH_ISSUER": "https://a/", "AUTH_AUDIENCE": "https://one, https://two,https://one"},
			want:  []issuerConfig{{Issuer: "https://a/", Audiences: []string{"https://one", "https://two"}, Algorithms: []string{"RS256"}}},
			realm: "https://one",
		},
		{
			name:  "auth0_audience_list",
			env:   map[string]string{"AUTH0_DOMAIN": "t.auth0.com", "AUTH0_AUDIENCE": "https://x,https://y"},
			want:  []issuerConfig{{Issuer: "https://t.auth0.com/", Audiences: []string{"https://x", "https://y"}, Algorithms: []string{"RS256"}, JWKSURL: "https://t.auth0.com/.well-known/jwks.json"}},
			realm: "https://x",
		},
		{name: "audience_only_commas", env: map[string]string{"AUTH_ISSUER": "https://a/", "AUTH_AUDIENCE": ", ,"}, wantErr: []string{"AUTH_AUDIENCE"}},
		{
			name: "yaml_file",
			env:  map[string]string{"AUTH_CONFIG": yamlFile, "AUTH_ALGORITHMS": "RS256,PS256"},
			want: []issuerConfig{
				{Issuer: "https://a.example.com/", Audiences: []string{"https://api.a.example.com"}, Algorithms: []string{"RS256", "PS256"}, JWKSURL: "https://a.example.com/keys"},
				{Issuer: "https://b.example.com/", Audiences: []string{"https://b1.example.com", "https://b2.example.com"}, Algorithms: []string{"ES256"}},
			},
			realm: "https://api.a.example.com",
		},
		{
			name:  "json_file",
			env:   map[string]string{"AUTH_CONFIG": jsonFile},
			want:  []issuerConfig{{Issuer: "https://a.example.com/", Audiences: []string{"https://api"}, Algorithms: []string{"RS256"}}},
			realm: "https://api",
		},
		{name: "file_and_issuer", env: map[string]string{"AUTH_CONFIG": jsonFile, "AUTH_ISSUER": "https://a/"}, wantErr: []string{"AUTH_CONFIG"}},
		{name: "file_and_auth0_domain", env: map[string]string{"AUTH_CONFIG": jsonFile, "AUTH0_DOMAIN": "t.auth0.com"}, wantErr: []string{"AUTH_CONFIG"}},
		{name: "file_and_jwks_url", env: map[string]string{"AUTH_CONFIG": jsonFile, "AUTH_JWKS_URL": "https://a/keys"}, wantErr: []string{"AUTH_CONFIG"}},
		{name: "file_and_audience", env: map[string]string{"AUTH_CONFIG": jsonFile, "AUTH_AUDIENCE": "https://api"}, wantErr: []string{"AUTH_CONFIG"}},
		{name: "file_missing", env: map[string]string{"AUTH_CONFIG": filepath.Join(dir, "nope.yaml")}, wantErr: []string{"AUTH_CONFIG"}},
		{name: "file_not_yaml", env: map[string]string{"AUTH_CONFIG": file("bad.yaml", "issuers: [: nope")}, wantErr: []string{"AUTH_CONFIG"}},
		{name: "file_empty", env: map[string]string{"AUTH_CONFIG": file("empty.yaml", "")}, wantErr: []string{"AUTH_CONFIG"}},
		{name: "unknown_field", env: map[string]string{"AUTH_CONFIG": file("typo.yaml", "issuers:\n  - issuer: https://a/\n    audience: https://api\n")}, wantErr: []string{"AUTH_CONFIG"}},
		{name: "unknown_top_field", env: map[string]string{"AUTH_CONFIG": file("top.json", `{"issuer": "https://a/"}`)}, wantErr: []string{"AUTH_CONFIG"}},
		{name: "no_issuers", env: map[string]string{"AUTH_CONFIG": file("none.yaml", "issuers: []\n")}, wantErr: []string{"AUTH_CONFIG"}},
		{name: "no_audiences", env: map[string]string{"AUTH_CONFIG": file("noaud.yaml", "issuers:\n  - issuer: https://a/\n")}, wantErr: []string{"AUTH_CONFIG"}},
		{name: "http_issuer", env: map[string]string{"AUTH_CONFIG": file("http.yaml", "issuers:\n  - issuer: http://a.example.com/\n    audiences: [x]\n")}, wantErr: []string{"AUTH_CONFIG"}},
		{name: "http_jwks_url", env: map[string]string{"AUTH_CONFIG": file("httpkeys.yaml", "issuers:\n  - issuer: https://a/\n    audiences: [x]\n    jwks_url: http://a.example.com/keys\n")}, wantErr: []string{"AUTH_CONFIG"}},
		{name: "hmac_algorithm", env: map[string]string{"AUTH_CONFIG": file("hs.yaml", "issuers:\n  - issuer: https://a/\n    audiences: [x]\n    algorithms: [HS256]\n")}, wantErr: []string{"AUTH_CONFIG"}},
		{name: "issuer_twice", env: map[string]string{"AUTH_CONFIG": file("twice.yaml", "issuers:\n  - {issuer: https://a/, audiences: [x]}\n  - {issuer: https://a/, audiences: [y]}\n")}, wantErr: []string{"AUTH_CONFIG"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadConfig(envFunc(tt.env), false)
			checkConfigErrors(t, err, tt.wantErr)
			if err != nil {
				return
			}
			if fmt.Sprint(c.Issuers) != fmt.Sprint(tt.want) {
				t.Errorf("Issuers = %+v, want %+v", c.Issuers, tt.want)
			}
			if got := c.realm(); got != tt.realm {
				t.Errorf("realm() = %q, want %q", got, tt.realm)
			}
		})
	}
}

// The refusals of a bad AUTH_CONFIG file read as one clear line: the
// path once, the format named, no stray separators.
func TestAuthConfigErrorTexts(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		path    string
		want    string
		notWant []string
	}{
		{name: "json_syntax", path: file("bad.json", `{"issuers": [}`), want: "not valid YAML or JSON", notWant: []string{"yaml:"}},
		{name: "unknown_key", path: file("typo.yaml", "issuers:\n  - issuer: https://a/\n    audience: https://api\n"), want: "unknown or mistyped key: line 3: field audience not found", notWant: []string{":;", "not valid YAML"}},
		{name: "scalar_file", path: file("scalar.yaml", "hello\n"), want: "unknown or mistyped key", notWant: []string{"main."}},
		{name: "directory", path: dir, want: "is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(envFunc(map[string]string{"AUTH_CONFIG": tt.path}), false)
			if err == nil {
				t.Fatal("loadConfig() = nil error")
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q lacks %q", msg, tt.want)
			}
			for _, bad := range tt.notWant {
				if strings.Contains(msg, bad) {
					t.Errorf("error %q holds %q", msg, bad)
				}
			}
			if n := strings.Count(msg, tt.path); n > 1 {
				t.Errorf("error %q names the path %d times", msg, n)
			}
		})
	}
}

// TestRunTwoIssuers is a two-issuer, three-audience configuration end to
// end: each issuer's tokens pass, one issuer's key never passes for the
// other, an issuer whose provider fails stops nobody else, and a token for
// one service is refused at the other's host (every table names its
// audiences, as several audiences require).
func TestRunTwoIssuers(t *testing.T) {
	const (
		audA  = "https://a.api.test"
		audB1 = "https://b1.api.test"
		audB2 = "https://b2.api.test"
	)
	a, b := authntest.NewProvider(t), authntest.NewProvider(t)
	b.SetHandler(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusBadGateway) })
	dir := t.TempDir()
	config := filepath.Join(dir, "issuers.yaml")
	testfile.Write(t, config, fmt.Sprintf(`issuers:
  - issuer: %s
    audiences: [%s]
    jwks_url: %s
  - issuer: %s  # keys by discovery
    audiences: [%s, %s]
`, a.Issuer, audA, a.JWKSURL(), b.Issuer, audB1, audB2))
	policy := twoServicePolicy(t, filepath.Join(dir, "policy"), a.Issuer, audA, audB1, audB2)
	t.Chdir(dir)
	s := startUnready(t, nil, map[string]string{"LISTEN_ADDR": "127.0.0.1:0", "AUTH_CONFIG": config, "POLICY_DIR": policy})

	readyz := func() (int, string) {
		t.Helper()
		resp, err := http.Get(s.url + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		raw, _ := json.Marshal(body)
		return resp.StatusCode, string(raw)
	}
	tokA := a.Token(t, map[string]any{"aud": audA, "org_id": "acme"})
	// B down from the start: not ready, and the reason names B only; A's
	// tokens are served all the same.
	eventually(t, "A's keys fetched", func() bool {
		code, _ := get(t, s.url+"/api/private", tokA)
		return code == 200
	})
	if code, body := readyz(); code != 503 || !strings.Contains(body, b.Issuer) || strings.Contains(body, `not fetched yet: `+a.Issuer) {
		t.Errorf("/readyz with B down = %d %s, want 503 naming %s", code, body, b.Issuer)
	}

	b.SetHandler(nil)
	eventually(t, "ready once both issuers' keys were fetched", func() bool {
		code, _ := readyz()
		return code == 200
	})
	// B down again: its last keys stay in use, the service stays ready.
	b.SetHandler(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusBadGateway) })

	bKey2 := authntest.NewKey(t, "key-2")
	tests := []struct {
		name  string
		token string
		want  int
	}{
		{"issuer_a", tokA, 200},
		{"issuer_b_second_audience", b.Token(t, map[string]any{"aud": audB2}), 200},
		{"issuer_b_for_a_audience", b.Token(t, map[string]any{"aud": audA}), 401},
		{"iss_a_signed_by_b", authntest.Sign(t, b.Key(), map[string]any{"iss": a.Issuer, "aud": audA, "exp": time.Now().Add(time.Hour).Unix()}), 401},
		{"iss_a_signed_by_unknown_kid", authntest.Sign(t, bKey2, map[string]any{"iss": a.Issuer, "aud": audA, "exp": time.Now().Add(time.Hour).Unix()}), 401},
		{"unknown_issuer", authntest.NewProvider(t).Token(t, map[string]any{"aud": audA}), 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, body := get(t, s.url+"/api/private", tt.token); got != tt.want {
				t.Errorf("GET /api/private = %d %v, want %d", got, body, tt.want)
			}
		})
	}
	// Two services behind the same gate, told apart by host (forward-auth).
	tokB := b.Token(t, map[string]any{"aud": audB1})
	hostTests := []struct {
		name  string
		host  string
		token string
		want  int
	}{
		{name: "a_token_at_a", host: "a.test", token: tokA, want: 200},
		{name: "a_token_at_b", host: "b.test", token: tokA, want: 403},
		{name: "b_token_at_b", host: "b.test", token: tokB, want: 200},
		{name: "b_token_at_a", host: "a.test", token: tokB, want: 403},
		{name: "b_token_naming_a_audience_too_at_a", host: "a.test", token: b.Token(t, map[string]any{"aud": []string{audB1, audA}}), want: 403},
		{name: "iss_a_signed_by_b_at_a", host: "a.test", token: authntest.Sign(t, b.Key(), map[string]any{"iss": a.Issuer, "aud": audA, "exp": time.Now().Add(time.Hour).Unix()}), want: 401},
	}
	for _, tt := range hostTests {
		t.Run("host/"+tt.name, func(t *testing.T) {
			if got, _ := forwardAuth(t, s.url, tt.host, "/data", tt.token); got != tt.want {
				t.Errorf("/authz for %s /data = %d, want %d", tt.host, got, tt.want)
			}
		})
	}
	// a.test's policy copies org_id into its declared X-Auth-Tenant.
	if code, h := forwardAuth(t, s.url, "a.test", "/data", tokA); code != 200 || h.Get("X-Auth-Tenant") != "acme" {
		t.Errorf("/authz for a.test /data = %d with X-Auth-Tenant %q, want 200 with acme", code, h.Get("X-Auth-Tenant"))
	}
	if code, body := readyz(); code != 200 || !strings.Contains(body, a.Issuer) || !strings.Contains(body, b.Issuer) {
		t.Errorf("/readyz with B down after its first fetch = %d %s, want 200 with details naming both issuers", code, body)
	}

	req, _ := http.NewRequest("GET", s.url+"/api/private", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("WWW-Authenticate"); !strings.Contains(got, `realm="`+audA+`"`) {
		t.Errorf("challenge %q, want the first audience %s as realm", got, audA)
	}
	for _, iss := range []string{a.Issuer, b.Issuer} {
		if v := metric(t, s, fmt.Sprintf(`policygate_signing_keys_ready{issuer=%q}`, iss)); v != 1 {
			t.Errorf("policygate_signing_keys_ready{issuer=%q} = %v, want 1", iss, v)
		}
	}
	if !slices.ContainsFunc(strings.Split(s.stderr.String(), "\n"), func(l string) bool {
		return strings.Contains(l, "signing keys fetch failed") && strings.Contains(l, `"issuer":"`+b.Issuer+`"`)
	}) {
		t.Errorf("no log line names the failing issuer %s:\n%s", b.Issuer, s.stderr.String())
	}
}

// twoServicePolicy writes a policy folder for two services behind one gate:
// a.test accepts audA from issuer a only, b.test audB1 and audB2; the
// default table names all three; a.test copies org_id into X-Auth-Tenant.
func twoServicePolicy(t *testing.T, dir, issuerA, audA, audB1, audB2 string) string {
	t.Helper()
	rego, err := os.ReadFile("../../policies/authz/authz.rego")
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(map[string]any{
		"audiences": []string{audA, audB1, audB2},
		"headers":   []string{"X-Auth-Tenant"},
		"routes":    map[string]any{"/api/private": map[string]any{"GET": map[string]any{"access": "authenticated"}}},
		"hosts": map[string]any{
			"a.test": map[string]any{"audiences": []string{audA}, "issuers": []string{issuerA}, "routes": map[string]any{"/data": map[string]any{"GET": map[string]any{
				"access": "authenticated", "headers": map[string]any{"X-Auth-Tenant": map[string]any{"claim": "org_id"}}}}}},
			"b.test": map[string]any{"audiences": []string{audB1, audB2}, "routes": map[string]any{"/data": map[string]any{"GET": map[string]any{"access": "authenticated"}}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	testfile.Write(t, filepath.Join(dir, "authz", "authz.rego"), string(rego))
	testfile.Write(t, filepath.Join(dir, "authz", "data.json"), string(data))
	return dir
}

// forwardAuth asks /authz about GET path on host (the forwarded family,
// from loopback) and returns the status and headers.
func forwardAuth(t *testing.T, base, host, path, token string) (int, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/authz", nil)
	req.Header.Set("X-Forwarded-Method", "GET")
	req.Header.Set("X-Forwarded-Uri", path)
	req.Header.Set("X-Forwarded-Host", host)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

// With several audiences, a fresh start with a policy whose tables do not
// name their audiences (the embedded one names none) fails, naming the
// table.
func TestRunSeveralAudiencesUnnamedTableFails(t *testing.T) {
	p := authntest.NewProvider(t)
	err := run(t.Context(), nil, envFunc(map[string]string{
		"LISTEN_ADDR": "127.0.0.1:0", "AUTH_ISSUER": p.Issuer, "AUTH_JWKS_URL": p.JWKSURL(),
		"AUTH_AUDIENCE": "https://a.api.test,https://b.api.test",
	}), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "default table") || !strings.Contains(err.Error(), "several audiences") {
		t.Fatalf("run() = %v, want a refusal naming the default table", err)
	}
}

// TestReadyzRedactsKeyURL: /readyz may be served on the public port, so
// the error of a key fetch names the key URL without its query.
func TestReadyzRedactsKeyURL(t *testing.T) {
	p := authntest.NewProvider(t)
	p.SetHandler(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusBadGateway) })
	s := startUnready(t, nil, map[string]string{
		"LISTEN_ADDR": "127.0.0.1:0", "AUTH_ISSUER": p.Issuer, "AUTH_AUDIENCE": authntest.Audience,
		"AUTH_JWKS_URL": p.JWKSURL() + "?sig=S3CRET",
	})
	var body string
	eventually(t, "the failed key fetch on /readyz", func() bool {
		resp, err := http.Get(s.url + "/readyz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == 503 && strings.Contains(body, "last_error")
	})
	if strings.Contains(body, "S3CRET") || !strings.Contains(body, strings.TrimPrefix(p.Issuer, "http://")) {
		t.Errorf("/readyz = %s: want the key URL's host without its query", body)
	}
}
