package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/policygate/policygate/internal/authn/authntest"
	"github.com/policygate/policygate/internal/authz"
	"github.com/policygate/policygate/internal/testfile"
	"github.com/policygate/policygate/internal/testwait"
)

// syncBuffer collects a writer's output for concurrent reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func envFunc(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// server is a run() started on 127.0.0.1:0.
type server struct {
	url            string
	stdout, stderr *syncBuffer
	done           chan error
	cancel         context.CancelFunc
}

var listeningRE = regexp.MustCompile(`"msg":"listening","addr":"([^"]+)"`)

// startServer starts run() and waits until it is ready (keys fetched,
// policy active).
func startServer(t *testing.T, args []string, env map[string]string) *server {
	t.Helper()
	s := startUnready(t, args, env)
	if !testwait.Until(30*time.Second, func() bool {
		resp, err := http.Get(s.url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}) {
		t.Fatalf("server not ready within 30s:\n%s", s.stderr.String())
	}
	return s
}

// startUnready starts run() and waits only until it listens.
func startUnready(t *testing.T, args []string, env map[string]string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan error, 1), cancel: cancel}
	go func() { s.done <- run(ctx, args, envFunc(env), s.stdout, s.stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(15 * time.Second):
			t.Error("run did not return after cancel")
		}
	})
	if !testwait.Until(30*time.Second, func() bool {
		if m := listeningRE.FindStringSubmatch(s.stderr.String()); m != nil {
			s.url = "http://" + m[1]
			return true
		}
		select {
		case err := <-s.done:
			t.Fatalf("run returned early: %v\n%s", err, s.stderr.String())
		default:
		}
		return false
	}) {
		t.Fatalf("server did not listen within 30s:\n%s", s.stderr.String())
	}
	return s
}

func get(t *testing.T, url, token string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

func TestRunDevMode(t *testing.T) {
	t.Chdir(t.TempDir()) // no ./policies: the embedded copy is used
	s := startServer(t, []string{"--dev"}, map[string]string{"LISTEN_ADDR": "127.0.0.1:0"})
	out := s.stdout.String()
	token := regexp.MustCompile(`export TOKEN=(\S+)`).FindStringSubmatch(out)
	scoped := regexp.MustCompile(`export SCOPED_TOKEN=(\S+)`).FindStringSubmatch(out)
	if token == nil || scoped == nil || !strings.Contains(out, "curl") {
		t.Fatalf("dev banner lacks tokens or curl lines:\n%s", out)
	}
	tests := []struct {
		path, token string
		want        int
	}{
		{"/api/public", "", 200},
		{"/api/private", token[1], 200},
		{"/api/private-scoped", scoped[1], 200},
		{"/api/private", "", 401},
		{"/api/private-scoped", token[1], 403},
	}
	for _, tt := range tests {
		if got, body := get(t, s.url+tt.path, tt.token); got != tt.want {
			t.Errorf("GET %s = %d %v, want %d", tt.path, got, body, tt.want)
		}
	}
	// Every printed curl line gives the status printed beside it.
	lines := regexp.MustCompile(`curl -i (?:-H "Authorization: Bearer (\S+)" )?(\S+)\s+# (\d+)`).FindAllStringSubmatch(out, -1)
	if len(lines) != 5 {
		t.Fatalf("found %d curl lines, want 5:\n%s", len(lines), out)
	}
	for _, l := range lines {
		if got, _ := get(t, l[2], l[1]); got != atoi(l[3]) {
			t.Errorf("printed curl %s = %d, want %s", l[2], got, l[3])
		}
	}

	// The token subcommand mints more tokens from the running server.
	var tokOut, tokErr syncBuffer
	addr := strings.TrimPrefix(s.url, "http://")
	if err := run(context.Background(), []string{"token", "--scope", "read:messages", "--addr", addr}, envFunc(nil), &tokOut, &tokErr); err != nil {
		t.Fatalf("token: %v %s", err, tokErr.String())
	}
	if got, _ := get(t, s.url+"/api/private-scoped", strings.TrimSpace(tokOut.String())); got != 200 {
		t.Errorf("minted scoped token: GET /api/private-scoped = %d, want 200", got)
	}

	// Without --addr it asks the address the dev server read, ./.env's
	// LISTEN_ADDR included.
	dir := t.TempDir()
	testfile.Write(t, filepath.Join(dir, ".env"), "LISTEN_ADDR="+addr+"\n")
	t.Chdir(dir)
	var envOut, envErr syncBuffer
	if err := run(context.Background(), []string{"token", "--scope", "read:messages"}, envFunc(nil), &envOut, &envErr); err != nil {
		t.Fatalf("token with LISTEN_ADDR in .env: %v %s", err, envErr.String())
	}
	if got, _ := get(t, s.url+"/api/private-scoped", strings.TrimSpace(envOut.String())); got != 200 {
		t.Errorf("token minted by the address in .env: GET /api/private-scoped = %d, want 200", got)
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func TestRunWithProvider(t *testing.T) {
	p := authntest.NewProvider(t)
	t.Chdir(t.TempDir())
	s := startServer(t, nil, map[string]string{
		"LISTEN_ADDR":   "127.0.0.1:0",
		"AUTH_ISSUER":   p.Issuer, // keys found by discovery
		"AUTH_AUDIENCE": authntest.Audience,
	})
	if got, _ := get(t, s.url+"/api/private-scoped", p.Token(t, map[string]any{"scope": "read:messages"})); got != 200 {
		t.Errorf("scoped token = %d, want 200", got)
	}
	if got, body := get(t, s.url+"/api/private", p.Token(t, map[string]any{"aud": "other"})); got != 401 {
		t.Errorf("wrong audience = %d %v, want 401", got, body)
	}
	// Graceful shutdown: run returns nil after the context ends.
	s.cancel()
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("run after shutdown = %v, want nil", err)
		}
		s.done <- err
	case <-time.After(15 * time.Second):
		t.Fatal("no shutdown")
	}
}

func TestRunRefusesBadPolicy(t *testing.T) {
	tests := []struct {
		name, file, content, wantErr string
	}{
		{"syntax_error", "authz/authz.rego", "package authz\n\ndecision := {", "authz.rego"},
		{"no_decision", "authz/authz.rego", "package authz\n\nallow := true\n", "data.authz.decision"},
		{"bad_json", "authz/data.json", "{not json", "data.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			testfile.Write(t, filepath.Join(dir, "authz/authz.rego"), "package authz\n\ndecision := {\"allowed\": false}\n")
			testfile.Write(t, filepath.Join(dir, tt.file), tt.content)
			var stderr syncBuffer
			err := run(context.Background(), []string{"--dev"}, envFunc(map[string]string{"LISTEN_ADDR": "127.0.0.1:0", "POLICY_DIR": dir}), &syncBuffer{}, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("run() = %v, want an error naming %q", err, tt.wantErr)
			}
		})
	}
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		dev     bool
		wantErr []string // substrings, each naming a variable
		check   func(t *testing.T, c Config)
	}{
		{name: "nothing_set", env: nil, wantErr: []string{"AUTH_ISSUER", "AUTH_AUDIENCE"}},
		{name: "dev_needs_nothing", env: nil, dev: true, check: func(t *testing.T, c Config) {
			if c.ListenAddr != "127.0.0.1:3010" {
				t.Errorf("ListenAddr = %q", c.ListenAddr)
			}
		}},
		{name: "dev_refuses_public_address", env: map[string]string{"LISTEN_ADDR": "0.0.0.0:3010"}, dev: true, wantErr: []string{"LISTEN_ADDR"}},
		{name: "dev_refuses_all_interfaces", env: map[string]string{"LISTEN_ADDR": ":3010"}, dev: true, wantErr: []string{"LISTEN_ADDR"}},
		{name: "auth0_aliases", env: map[string]string{"AUTH0_DOMAIN": "tenant.us.auth0.com", "AUTH0_AUDIENCE": "https://api"}, check: func(t *testing.T, c Config) {
			if c.Issuer != "https://tenant.us.auth0.com/" || c.JWKSURL != "https://tenant.us.auth0.com/.well-known/jwks.json" || c.Audience != "https://api" {
				t.Errorf("config = %+v", c)
			}
			if c.ListenAddr != ":3010" || c.ClockSkew != 30*time.Second || len(c.Algorithms) != 1 || c.Algorithms[0] != "RS256" {
				t.Errorf("defaults = %+v", c)
			}
		}},
		{name: "contradicting_issuer", env: map[string]string{"AUTH0_DOMAIN": "a.auth0.com", "AUTH_ISSUER": "https://b.auth0.com/", "AUTH_AUDIENCE": "x"}, wantErr: []string{"AUTH_ISSUER"}},
		{name: "bad_auth0_domain_only", env: map[string]string{"AUTH0_DOMAIN": "https://foo.auth0.com/x", "AUTH_AUDIENCE": "x"}, wantErr: []string{"AUTH0_DOMAIN"}},
		{name: "contradicting_audience", env: map[string]string{"AUTH_ISSUER": "https://a/", "AUTH_AUDIENCE": "x", "AUTH0_AUDIENCE": "y"}, wantErr: []string{"AUTH_AUDIENCE"}},
		{name: "http_issuer", env: map[string]string{"AUTH_ISSUER": "http://idp.example.com/", "AUTH_AUDIENCE": "x"}, wantErr: []string{"AUTH_ISSUER"}},
		{name: "decision_cache_default", env: map[string]string{"AUTH_ISSUER": "https://a/", "AUTH_AUDIENCE": "x"}, check: func(t *testing.T, c Config) {
			if c.DecisionCacheSize != authz.DefaultDecisionCacheSize {
				t.Errorf("DecisionCacheSize = %d, want %d (the default size)", c.DecisionCacheSize, authz.DefaultDecisionCacheSize)
			}
		}},
		{name: "decision_cache_off", env: map[string]string{"AUTH_ISSUER": "https://a/", "AUTH_AUDIENCE": "x", "DECISION_CACHE_SIZE": "0"}, check: func(t *testing.T, c Config) {
			if c.DecisionCacheSize != 0 {
				t.Errorf("DecisionCacheSize = %d, want 0 (off)", c.DecisionCacheSize)
			}
		}},
		{name: "decision_cache_size", env: map[string]string{"AUTH_ISSUER": "https://a/", "AUTH_AUDIENCE": "x", "DECISION_CACHE_SIZE": "500"}, check: func(t *testing.T, c Config) {
			if c.DecisionCacheSize != 500 {
				t.Errorf("DecisionCacheSize = %d, want 500", c.DecisionCacheSize)
			}
		}},
		{name: "decision_cache_bad", env: map[string]string{"AUTH_ISSUER": "https://a/", "AUTH_AUDIENCE": "x", "DECISION_CACHE_SIZE": "-5"}, wantErr: []string{"DECISION_CACHE_SIZE"}},
		{name: "alg_none", env: map[string]string{"AUTH_ISSUER": "https://a/", "AUTH_AUDIENCE": "x", "AUTH_ALGORITHMS": "none"}, wantErr: []string{"AUTH_ALGORITHMS"}},
		{name: "alg_hmac", env: map[string]string{"AUTH_ISSUER": "https://a/", "AUTH_AUDIENCE": "x", "AUTH_ALGORITHMS": "RS256,HS256"}, wantErr: []string{"AUTH_ALGORITHMS"}},
		{name: "algs_list", env: map[string]string{"AUTH_ISSUER": "https://a/", "AUTH_AUDIENCE": "x", "AUTH_ALGORITHMS": "RS256, ES256"}, check: func(t *testing.T, c Config) {
			if strings.Join(c.Algorithms, ",") != "RS256,ES256" {
				t.Errorf("Algorithms = %q", c.Algorithms)
			}
		}},
		{name: "bad_skew", env: map[string]string{"AUTH_ISSUER": "https://a/", "AUTH_AUDIENCE": "x", "AUTH_CLOCK_SKEW": "1h"}, wantErr: []string{"AUTH_CLOCK_SKEW"}},
		{name: "bad_listen", env: map[string]string{"AUTH_ISSUER": "https://a/", "AUTH_AUDIENCE": "x", "LISTEN_ADDR": "3010"}, wantErr: []string{"LISTEN_ADDR"}},
		{name: "missing_policy_dir", env: map[string]string{"AUTH_ISSUER": "https://a/", "AUTH_AUDIENCE": "x", "POLICY_DIR": "/nonexistent"}, wantErr: []string{"POLICY_DIR"}},
		{name: "cors_origins", env: map[string]string{"AUTH_ISSUER": "https://a/", "AUTH_AUDIENCE": "x", "CORS_ALLOWED_ORIGINS": "https://app.example.com, http://localhost:3000"}, check: func(t *testing.T, c Config) {
			if strings.Join(c.CORSOrigins, ",") != "https://app.example.com,http://localhost:3000" {
				t.Errorf("CORSOrigins = %q", c.CORSOrigins)
			}
		}},
		{name: "cors_off_by_default", env: map[string]string{"AUTH_ISSUER": "https://a/", "AUTH_AUDIENCE": "x"}, check: func(t *testing.T, c Config) {
			if len(c.CORSOrigins) != 0 {
				t.Errorf("CORSOrigins = %q, want none", c.CORSOrigins)
			}
		}},
		{name: "cors_dev_default", dev: true, check: func(t *testing.T, c Config) {
			if strings.Join(c.CORSOrigins, ",") != "http://localhost:3000" {
				t.Errorf("CORSOrigins = %q, want the SPA quickstart origin", c.CORSOrigins)
			}
		}},
		{name: "cors_bad_origin", env: map[string]string{"AUTH_ISSUER": "https://a/", "AUTH_AUDIENCE": "x", "CORS_ALLOWED_ORIGINS": "https://app.example.com/"}, wantErr: []string{"CORS_ALLOWED_ORIGINS"}},
		{name: "cors_star_with_others", env: map[string]string{"AUTH_ISSUER": "https://a/", "AUTH_AUDIENCE": "x", "CORS_ALLOWED_ORIGINS": "*,https://a.example.com"}, wantErr: []string{"CORS_ALLOWED_ORIGINS"}},
		{name: "every_problem_at_once", env: map[string]string{"AUTH_CLOCK_SKEW": "x", "LISTEN_ADDR": "nope"}, wantErr: []string{"AUTH_ISSUER", "AUTH_AUDIENCE", "AUTH_CLOCK_SKEW", "LISTEN_ADDR"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadConfig(envFunc(tt.env), tt.dev)
			checkConfigErrors(t, err, tt.wantErr)
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

// checkConfigErrors wants loadConfig's error to have exactly one line per
// variable in want, each naming it ("VAR: ..."), and no error when want is
// empty.
func checkConfigErrors(t *testing.T, err error, want []string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("loadConfig() = %v", err)
		}
		return
	}
	for _, w := range want {
		if err == nil || !strings.Contains(err.Error(), w+":") {
			t.Errorf("loadConfig() = %v, want a line naming %s", err, w)
		}
	}
	if err != nil && strings.Count(err.Error(), "\n")+1 != len(want) {
		t.Errorf("loadConfig() = %q: want one line per problem (%d)", err, len(want))
	}
}

func TestDotEnv(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".env")
	os.WriteFile(path, []byte("# comment\nAUTH0_DOMAIN=\"tenant.auth0.com\"\nexport AUTH0_AUDIENCE='https://api'\nLISTEN_ADDR=:9999\n"), 0o600)
	env, err := withDotEnv(envFunc(map[string]string{"LISTEN_ADDR": ":8080"}), path)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"AUTH0_DOMAIN": "tenant.auth0.com", "AUTH0_AUDIENCE": "https://api", "LISTEN_ADDR": ":8080"} {
		if got := env(k); got != want {
			t.Errorf("env(%s) = %q, want %q (real environment wins)", k, got, want)
		}
	}
	if _, err := withDotEnv(envFunc(nil), filepath.Join(dir, "missing")); err != nil {
		t.Errorf("missing .env: %v", err)
	}
}

func TestRunConfigErrorExitsBeforeListening(t *testing.T) {
	t.Chdir(t.TempDir())
	err := run(context.Background(), nil, envFunc(nil), &syncBuffer{}, &syncBuffer{})
	if err == nil || !strings.Contains(err.Error(), "AUTH_ISSUER") {
		t.Fatalf("run() = %v, want configuration error", err)
	}
	if errors.Is(err, context.Canceled) {
		t.Fatal("unexpected cancel")
	}
}

// TestShutdownLetsRequestsFinish: a request in flight when the signal comes
// (here: waiting on a slow key fetch for a rotated-in key) still gets its
// answer; its context does not end with the server's.
func TestShutdownLetsRequestsFinish(t *testing.T) {
	p := authntest.NewProvider(t)
	t.Chdir(t.TempDir())
	s := startServer(t, nil, map[string]string{
		"LISTEN_ADDR": "127.0.0.1:0", "AUTH_ISSUER": p.Issuer, "AUTH_AUDIENCE": authntest.Audience,
	})
	k2 := authntest.NewKey(t, "key-2")
	p.SetKeys(p.Key(), k2)
	p.SetHandler(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Second)
		p.ServeKeys(w, r)
	})
	time.Sleep(5500 * time.Millisecond) // past the unknown-kid refetch interval since the first fetch
	got := make(chan int, 1)
	go func() {
		code, _ := get(t, s.url+"/api/private", authntest.Sign(t, k2, p.Claims()))
		got <- code
	}()
	time.Sleep(300 * time.Millisecond) // the request now waits on the key fetch
	s.cancel()
	select {
	case code := <-got:
		if code != http.StatusOK {
			t.Errorf("request in flight at shutdown = %d, want 200", code)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("request in flight at shutdown got no answer")
	}
}
