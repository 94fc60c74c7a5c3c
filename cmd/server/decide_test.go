package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/policygate/policygate/internal/authn/authntest"
	"github.com/policygate/policygate/internal/authz/authztest"
	"github.com/policygate/policygate/internal/testfile"
)

// runMainEnv makes the test binary run main() instead of the tests, so
// subcommands are tested as the process a user starts: exit status,
// stdout, stderr.
const runMainEnv = "POLICYGATE_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type procResult struct {
	code           int
	stdout, stderr string
}

// runProcess runs the server binary (this test binary running main) in
// dir with args and only the given environment.
func runProcess(t *testing.T, dir string, env map[string]string, stdin string, args ...string) procResult {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = []string{runMainEnv + "=1", "PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("server %v did not finish within 60s", args)
	}
	res := procResult{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		res.code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestDecide(t *testing.T) {
	dir := t.TempDir() // no ./policies: the embedded policy decides
	testfile.Write(t, filepath.Join(dir, "scoped.json"), `{"sub": "alice", "scope": "read:messages"}`)
	testfile.Write(t, filepath.Join(dir, "plain.json"), `{"sub": "bob"}`)
	testfile.Write(t, filepath.Join(dir, "broken.json"), `{"sub": "bob",`)
	testfile.Write(t, filepath.Join(dir, "array.json"), `["sub"]`)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		stdout   []string // substrings of stdout
		stderr   string   // the one line on stderr, exactly ("" for none)
	}{
		{name: "public_allow", args: []string{"GET", "/api/public"}, wantCode: 0,
			stdout: []string{"decision:         ALLOW (200)", "reason:           public", "matched routes:   /api/public", "X-Decision-Id: ", "X-Auth-Subject: (removed)", "policy:           embedded policy, revision sha256:"}},
		{name: "anonymous_deny", args: []string{"GET", "/api/private"}, wantCode: 1,
			stdout: []string{"DENY (401 unauthorized)", "reason:           unauthenticated", `WWW-Authenticate: Bearer realm="policygate"`}},
		{name: "claims_allow_with_headers", args: []string{"--claims", "scoped.json", "GET", "/api/private-scoped"}, wantCode: 0,
			stdout: []string{"ALLOW (200)", "claims from scoped.json (not verified)", "required scopes:  read:messages", "X-Auth-Subject: alice", "X-Auth-Scopes: read:messages"}},
		{name: "flags_after_arguments", args: []string{"GET", "/api/private-scoped", "--claims", "plain.json"}, wantCode: 1,
			stdout: []string{"DENY (403 insufficient_scope)", "missing scopes:   read:messages", "matched routes:   /api/private-scoped"}},
		{name: "no_route", args: []string{"DELETE", "/api/public"}, wantCode: 1,
			stdout: []string{"DENY (403 access_denied)", "reason:           no_route", "matched routes:   (none)"}},
		{name: "refused_path", args: []string{"GET", "/api/../admin"}, wantCode: 1,
			stdout: []string{"reason:           invalid_path", "path has a dot segment"}},
		{name: "query_split_off", args: []string{"GET", "/api/public?x=1"}, wantCode: 0,
			stdout: []string{"decision:         ALLOW (200)", "reason:           public", "matched routes:   /api/public"}},
		{name: "query_method_override", args: []string{"GET", "/api/public?_method=DELETE"}, wantCode: 1,
			stdout: []string{"DENY (403 invalid_request)", "reason:           method_override", "a _method query parameter is refused"}},
		{name: "explain_full", args: []string{"--explain", "full", "GET", "/api/private"}, wantCode: 1,
			stdout: []string{"trace:", "Enter data.authz.decision", "authz.rego:", "Eval data.authz.decision", "input.routes"}},
		{name: "explain_notes_without_notes", args: []string{"--explain", "notes", "GET", "/api/private"}, wantCode: 1,
			stdout: []string{"(no notes: add trace("}},
		{name: "bad_json_claims", args: []string{"--claims", "broken.json", "GET", "/api/private"}, wantCode: 2,
			stderr: "decide: --claims broken.json: not a JSON object: unexpected end of JSON input (at byte 14)"},
		{name: "claims_not_an_object", args: []string{"--claims", "array.json", "GET", "/api/private"}, wantCode: 2,
			stderr: "decide: --claims array.json: not a JSON object: a JSON array"},
		{name: "missing_claims_file", args: []string{"--claims", "nope.json", "GET", "/api/private"}, wantCode: 2,
			stderr: "decide: --claims nope.json: open nope.json: no such file or directory"},
		{name: "unknown_flag", args: []string{"--verbose", "GET", "/api/private"}, wantCode: 2,
			stderr: "decide: flag provided but not defined: -verbose (see server decide --help)"},
		{name: "missing_path", args: []string{"GET"}, wantCode: 2,
			stderr: "decide: want METHOD PATH, e.g. server decide GET /api/private (see server decide --help)"},
		{name: "bad_explain_mode", args: []string{"--explain", "all", "GET", "/api/private"}, wantCode: 2,
			stderr: `decide: --explain "all": want notes or full`},
		{name: "token_and_claims", args: []string{"--token", "x", "--claims", "plain.json", "GET", "/"}, wantCode: 2,
			stderr: "decide: --token and --claims exclude each other"},
		{name: "token_without_issuer", args: []string{"--token", "x.y.z", "GET", "/api/private"}, wantCode: 2},
		{name: "missing_bundle", args: []string{"--bundle", "nope.tar.gz", "GET", "/api/private"}, wantCode: 2,
			stderr: "decide: --bundle nope.tar.gz: not a readable bundle file (build one with opa build)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runProcess(t, dir, nil, "", append([]string{"decide"}, tt.args...)...)
			if got.code != tt.wantCode {
				t.Fatalf("server decide %v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", tt.args, got.code, tt.wantCode, got.stdout, got.stderr)
			}
			for _, want := range tt.stdout {
				if !strings.Contains(got.stdout, want) {
					t.Errorf("server decide %v: stdout lacks %q:\n%s", tt.args, want, got.stdout)
				}
			}
			if tt.wantCode == 2 {
				if lines := strings.Split(strings.TrimSpace(got.stderr), "\n"); len(lines) != 1 || got.stdout != "" {
					t.Errorf("server decide %v: want one line on stderr and nothing on stdout, got stdout %q stderr:\n%s", tt.args, got.stdout, got.stderr)
				}
				if tt.stderr != "" && strings.TrimSpace(got.stderr) != tt.stderr {
					t.Errorf("server decide %v: stderr = %q, want %q", tt.args, strings.TrimSpace(got.stderr), tt.stderr)
				}
			} else if got.stderr != "" {
				t.Errorf("server decide %v: stderr = %q, want nothing", tt.args, got.stderr)
			}
		})
	}
}

// --json prints the decision object, with the policy's own result.
func TestDecideJSON(t *testing.T) {
	got := runProcess(t, t.TempDir(), nil, `{"sub": "alice", "permissions": ["read:messages"]}`,
		"decide", "--json", "--claims", "-", "--host", "API.example.com:8443", "GET", "/api/private-scoped")
	var d struct {
		Allowed        bool                `json:"allowed"`
		Status         int                 `json:"status"`
		Reason         string              `json:"reason"`
		Host           string              `json:"host"`
		Routes         []string            `json:"routes"`
		RequiredScopes []string            `json:"required_scopes"`
		MissingScopes  []string            `json:"missing_scopes"`
		Headers        []map[string]string `json:"headers"`
		Result         map[string]any      `json:"result"`
	}
	if err := json.Unmarshal([]byte(got.stdout), &d); err != nil || got.code != 0 {
		t.Fatalf("exit %d, stdout %q: %v\n%s", got.code, got.stdout, err, got.stderr)
	}
	if !d.Allowed || d.Status != 200 || d.Reason != "scopes_granted" || d.Host != "api.example.com" ||
		strings.Join(d.Routes, ",") != "/api/private-scoped" || strings.Join(d.RequiredScopes, ",") != "read:messages" ||
		len(d.MissingScopes) != 0 || d.Result["reason"] != "scopes_granted" || len(d.Headers) != 3 {
		t.Errorf("decision = %+v", d)
	}
}

// A token is verified as the server would: against the configured
// issuer's keys. One the server refuses is a denial that says why.
func TestDecideToken(t *testing.T) {
	p := authntest.NewProvider(t)
	other := authntest.NewProvider(t) // same claims, another key
	env := map[string]string{"AUTH_ISSUER": p.Issuer, "AUTH_AUDIENCE": authntest.Audience, "AUTH_JWKS_URL": p.JWKSURL()}
	dir := t.TempDir()
	tests := []struct {
		name     string
		token    string
		wantCode int
		stdout   []string
	}{
		{name: "verified", token: p.Token(t, map[string]any{"sub": "carol", "scope": "read:messages"}), wantCode: 0,
			stdout: []string{"ALLOW (200)", "token verified against " + p.Issuer, "X-Auth-Subject: carol", "X-Auth-Issuer: " + p.Issuer}},
		{name: "wrong_key", token: other.Token(t, map[string]any{"iss": p.Issuer, "scope": "read:messages"}), wantCode: 1,
			stdout: []string{"DENY (401 invalid_token)", "reason:           invalid_token", "description:      signature is invalid", "identity:         token refused: signature is invalid"}},
		{name: "not_a_jwt", token: "garbage", wantCode: 1,
			stdout: []string{"DENY (401 invalid_token)", "token is not a signed JWT", "identity:         token refused: token is not a signed JWT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runProcess(t, dir, env, "", "decide", "--token", tt.token, "GET", "/api/private-scoped")
			if tt.wantCode != 0 && strings.Contains(got.stdout, "token verified") {
				t.Errorf("a refused token is said to be verified:\n%s", got.stdout)
			}
			if got.code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", got.code, tt.wantCode, got.stdout, got.stderr)
			}
			for _, want := range tt.stdout {
				if !strings.Contains(got.stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, got.stdout)
				}
			}
			if strings.Contains(got.stdout+got.stderr, tt.token) {
				t.Errorf("the token is printed back")
			}
			// The same from stdin, off the command line.
			fromStdin := runProcess(t, dir, env, tt.token+"\n", "decide", "--token", "-", "GET", "/api/private-scoped")
			if fromStdin.code != tt.wantCode {
				t.Errorf("--token - with the token on stdin: exit %d, want %d\n%s%s", fromStdin.code, tt.wantCode, fromStdin.stdout, fromStdin.stderr)
			}
			for _, want := range tt.stdout {
				if !strings.Contains(fromStdin.stdout, want) {
					t.Errorf("--token -: stdout lacks %q:\n%s", want, fromStdin.stdout)
				}
			}
		})
	}
	// A public route is decided without the token: its line says why the
	// token did not count.
	foreign := other.Token(t, map[string]any{"iss": p.Issuer})
	if got := runProcess(t, dir, env, "", "decide", "--token", foreign, "GET", "/api/public"); got.code != 0 ||
		!strings.Contains(got.stdout, "identity:         token refused: signature is invalid (the request was decided without it)") {
		t.Errorf("refused token on a public route: exit %d\n%s%s", got.code, got.stdout, got.stderr)
	}
	if got := runProcess(t, dir, env, "\n", "decide", "--token", "-", "GET", "/api/private-scoped"); got.code != 2 || !strings.Contains(got.stderr, "no token on stdin") {
		t.Errorf("--token - with nothing on stdin: exit %d\n%s%s", got.code, got.stdout, got.stderr)
	}
}

// A table of cases: every mismatch is reported with its line, and exit 1.
func TestDecideTable(t *testing.T) {
	dir := t.TempDir()
	testfile.Write(t, filepath.Join(dir, "routes.csv"), `# the shipped routes
name,method,path,scopes,claims,expect
public,GET,/api/public,,,allow
anonymous,GET,/api/private,,,deny 401 unauthenticated
any token,GET,/api/private,,{},allow
scoped,GET,/api/private-scoped,read:messages,,allow 200 scopes_granted
wrong expectation,GET,/api/private-scoped,read:other,,allow
no route,GET,/nope,,,403 no_route
`)
	testfile.Write(t, filepath.Join(dir, "ok.json"), `[
		{"method": "GET", "path": "/api/private-scoped", "scopes": ["read:messages"], "expect": "allow"},
		{"method": "GET", "path": "/api/private-scoped", "claims": {"sub": "x"}, "expect": "insufficient_scope"}
	]`)
	testfile.Write(t, filepath.Join(dir, "bad.json"), `[{"method": "GET", "paht": "/"}]`)
	testfile.Write(t, filepath.Join(dir, "bad.csv"), "method,path,expected\nGET,/,allow\n")

	got := runProcess(t, dir, nil, "", "decide", "--table", "routes.csv")
	if got.code != 1 || !strings.Contains(got.stdout, "MISMATCH line 7 wrong expectation: GET /api/private-scoped scopes \"read:other\": got deny 403 insufficient_scope, want allow") ||
		strings.Count(got.stdout, "MISMATCH") != 1 || !strings.Contains(got.stdout, "6 cases, 1 mismatches") {
		t.Errorf("table with a mismatch: exit %d\n%s%s", got.code, got.stdout, got.stderr)
	}
	if got := runProcess(t, dir, nil, "", "decide", "--table", "ok.json"); got.code != 0 || !strings.Contains(got.stdout, "2 cases, 0 mismatches") {
		t.Errorf("table without mismatches: exit %d\n%s%s", got.code, got.stdout, got.stderr)
	}
	for _, file := range []string{"bad.json", "bad.csv", "missing.csv"} {
		if got := runProcess(t, dir, nil, "", "decide", "--table", file); got.code != 2 || !strings.HasPrefix(got.stderr, "decide: --table "+file+": ") {
			t.Errorf("table %s: exit %d, stderr %q, want 2 and one line naming the file", file, got.code, got.stderr)
		}
	}
}

// The policy is the server's: POLICY_DIR, and a bundle file when asked.
func TestDecidePolicySource(t *testing.T) {
	dir := copyPolicies(t)
	testfile.Write(t, filepath.Join(dir, "authz", "data.json"), `{
		"routes": {"/api/private-scoped": {"GET": {"access": "authenticated", "scopes": ["read:admin"]}}},
		"hosts": {"admin.example.com": {"routes": {"/api/private-scoped": {"GET": {"access": "authenticated", "scopes": ["admin"]}}}}}
	}`)
	env := map[string]string{"POLICY_DIR": dir}
	got := runProcess(t, t.TempDir(), env, `{"scope": "read:admin"}`, "decide", "--claims", "-", "GET", "/api/private-scoped")
	if got.code != 0 || !strings.Contains(got.stdout, "policy folder "+dir) || !strings.Contains(got.stdout, "required scopes:  read:admin") {
		t.Errorf("POLICY_DIR: exit %d\n%s%s", got.code, got.stdout, got.stderr)
	}
	// --host picks the host's table (normalised as the faces do).
	got = runProcess(t, t.TempDir(), env, `{"scope": "read:admin"}`, "decide", "--claims", "-", "--host", "Admin.Example.com:443", "GET", "/api/private-scoped")
	if got.code != 1 || !strings.Contains(got.stdout, "request:          GET /api/private-scoped host admin.example.com") ||
		!strings.Contains(got.stdout, "missing scopes:   admin") || !strings.Contains(got.stdout, "GET /api/private-scoped requires scope admin") {
		t.Errorf("--host: exit %d\n%s%s", got.code, got.stdout, got.stderr)
	}
	// A table's host column too.
	tableDir := t.TempDir()
	testfile.Write(t, filepath.Join(tableDir, "hosts.csv"), "method,path,host,scopes,expect\nGET,/api/private-scoped,admin.example.com,admin,allow\nGET,/api/private-scoped,,admin,insufficient_scope\n")
	if got := runProcess(t, tableDir, env, "", "decide", "--table", "hosts.csv"); got.code != 0 {
		t.Errorf("host table: exit %d\n%s%s", got.code, got.stdout, got.stderr)
	}
	// With UPSTREAM_URL, decide answers as proxy mode does: strict hosts,
	// so a host without its own table matches nothing once one exists.
	proxyEnv := map[string]string{"POLICY_DIR": dir, "UPSTREAM_URL": "http://127.0.0.1:8080"}
	got = runProcess(t, t.TempDir(), proxyEnv, `{"scope": "read:admin"}`, "decide", "--claims", "-", "--host", "other.example.com", "GET", "/api/private-scoped")
	if got.code != 1 || !strings.Contains(got.stdout, "reason:           no_route") {
		t.Errorf("proxy mode, host without a table: exit %d\n%s%s", got.code, got.stdout, got.stderr)
	}
	got = runProcess(t, t.TempDir(), proxyEnv, `{"scope": "admin"}`, "decide", "--claims", "-", "--host", "admin.example.com", "GET", "/api/private-scoped")
	if got.code != 0 {
		t.Errorf("proxy mode, host with its table: exit %d\n%s%s", got.code, got.stdout, got.stderr)
	}
}

func TestDecideHelp(t *testing.T) {
	got := runProcess(t, t.TempDir(), nil, "", "decide", "--help")
	if got.code != 0 || !strings.Contains(got.stderr, "usage: server decide") {
		t.Errorf("decide --help: exit %d\n%s", got.code, got.stderr)
	}
}

// The challenge shown is the server's, resource_metadata included.
func TestDecideChallengeNamesMetadata(t *testing.T) {
	got := runProcess(t, t.TempDir(), map[string]string{"PUBLIC_URL": "https://api.example.com"}, "", "decide", "GET", "/api/private")
	want := `WWW-Authenticate: Bearer realm="policygate", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource"`
	if got.code != 1 || !strings.Contains(got.stdout, want) {
		t.Errorf("exit %d, want 1 and %q:\n%s%s", got.code, want, got.stdout, got.stderr)
	}
}

// --bundle evaluates a bundle archive; OPA_CONFIG's bundles are fetched
// once, and its decision logs are not sent anywhere.
func TestDecideBundles(t *testing.T) {
	dir := copyPolicies(t)
	testfile.Write(t, filepath.Join(dir, "authz", "data.json"), routesJSON("read:bundle"))
	archive := authztest.Build(t, dir, authztest.Options{Revision: "rev-7"})
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "b.tar.gz"), archive, 0o644); err != nil {
		t.Fatal(err)
	}
	got := runProcess(t, work, nil, "", "decide", "--bundle", "b.tar.gz", "GET", "/api/private-scoped")
	if got.code != 1 || !strings.Contains(got.stdout, "policy:           bundle file b.tar.gz, revision rev-7") || !strings.Contains(got.stdout, "read:bundle") {
		t.Errorf("--bundle: exit %d\n%s%s", got.code, got.stdout, got.stderr)
	}
	testfile.Write(t, filepath.Join(work, "broken.tar.gz"), "not a bundle")
	if got := runProcess(t, work, nil, "", "decide", "--bundle", "broken.tar.gz", "GET", "/"); got.code != 2 || !strings.HasPrefix(got.stderr, "decide: bundle file broken.tar.gz: ") {
		t.Errorf("broken bundle: exit %d, stderr %q", got.code, got.stderr)
	}

	var bundleGets, logPosts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/bundles/authz.tar.gz":
			bundleGets.Add(1)
			w.Write(archive)
		case strings.HasPrefix(r.URL.Path, "/logs"):
			logPosts.Add(1)
		}
	}))
	t.Cleanup(srv.Close)
	testfile.Write(t, filepath.Join(work, "opa.yaml"), `services: {s: {url: `+srv.URL+`}}
bundles: {authz: {service: s, resource: bundles/authz.tar.gz}}
decision_logs: {service: s, reporting: {min_delay_seconds: 1, max_delay_seconds: 1}}
`)
	got = runProcess(t, work, map[string]string{"OPA_CONFIG": "opa.yaml"}, `{"scope": "read:bundle"}`, "decide", "--claims", "-", "GET", "/api/private-scoped")
	if got.code != 0 || !strings.Contains(got.stdout, "bundles from OPA_CONFIG (downloaded once), revision rev-7") || bundleGets.Load() != 1 || logPosts.Load() != 0 {
		t.Errorf("OPA_CONFIG: exit %d, %d bundle downloads, %d decision-log posts\n%s%s", got.code, bundleGets.Load(), logPosts.Load(), got.stdout, got.stderr)
	}

	// A failed download is reported with the bundle URL's credentials
	// redacted, as the server's logs and /readyz show it.
	testfile.Write(t, filepath.Join(work, "secret.yaml"), `services: {s: {url: "http://alice:s3cret@127.0.0.1:1/bundles?sig=TOPSECRET"}}
bundles: {authz: {service: s, resource: authz.tar.gz}}
`)
	got = runProcess(t, work, map[string]string{"OPA_CONFIG": "secret.yaml"}, "", "decide", "GET", "/api/public")
	if got.code != 2 || strings.Contains(got.stderr, "TOPSECRET") || strings.Contains(got.stderr, "s3cret") || !strings.Contains(got.stderr, "?***") {
		t.Errorf("failed download: exit %d, stderr %q; want exit 2 with the URL redacted", got.code, got.stderr)
	}
}

func TestDownloadOnce(t *testing.T) {
	out, err := downloadOnce([]byte(`services: {s: {url: "https://bundles.example.com"}}
bundles: {a: {service: s, polling: {min_delay_seconds: 10}}, b: {service: s}}
decision_logs: {service: s}
status: {service: s, prometheus: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	bundles, _ := m["bundles"].(map[string]any)
	for _, name := range []string{"a", "b"} {
		if b, _ := bundles[name].(map[string]any); b["trigger"] != "manual" {
			t.Errorf("bundle %s = %v, want trigger manual", name, b)
		}
	}
	if m["decision_logs"] != nil || m["status"] != nil || m["services"] == nil {
		t.Errorf("downloadOnce() = %s, want services and bundles only", out)
	}
}

// TestDecideIgnoresListenerSettings: decide opens no listener, so the
// listeners' settings do not stop it; what changes decisions still does.
func TestDecideIgnoresListenerSettings(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		wantCode int
		stderr   string // a substring of the one line on stderr
	}{
		{name: "bad_tls_key", env: map[string]string{"TLS_CERT_FILE": "c.pem", "TLS_KEY_FILE": "/nope"}, wantCode: 0},
		{name: "bad_listeners", env: map[string]string{
			"LISTEN_ADDR": "nope", "ADMIN_ADDR": "nope", "SHUTDOWN_DELAY": "forever",
			"GRPC_LISTEN_ADDR": "nope", "GRPC_MAX_DEADLINE": "soon", "GRPC_TLS_CERT_FILE": "/nope", "GRPC_TLS_CLIENT_CA_FILE": "/nope",
		}, wantCode: 0},
		{name: "bad_upstream_url", env: map[string]string{"UPSTREAM_URL": "ftp://x"}, wantCode: 2, stderr: "UPSTREAM_URL"},
		{name: "bad_path_rule", env: map[string]string{"PATH_ALLOW_SEMICOLON": "maybe"}, wantCode: 2, stderr: "PATH_ALLOW_SEMICOLON"},
		{name: "bad_policy_dir", env: map[string]string{"POLICY_DIR": "/nonexistent"}, wantCode: 2, stderr: "POLICY_DIR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runProcess(t, t.TempDir(), tt.env, "", "decide", "GET", "/api/public")
			if got.code != tt.wantCode || !strings.Contains(got.stderr, tt.stderr) {
				t.Fatalf("server decide GET /api/public with %v: exit %d, want %d (stderr naming %q)\nstdout:\n%s\nstderr:\n%s",
					tt.env, got.code, tt.wantCode, tt.stderr, got.stdout, got.stderr)
			}
			if tt.wantCode == 0 && (!strings.Contains(got.stdout, "ALLOW (200)") || got.stderr != "") {
				t.Errorf("server decide GET /api/public with %v:\nstdout:\n%s\nstderr:\n%s", tt.env, got.stdout, got.stderr)
			}
		})
	}
}
