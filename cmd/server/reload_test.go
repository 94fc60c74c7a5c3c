package main

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/policygate/policygate/internal/authn/authntest"
	"github.com/policygate/policygate/internal/testfile"
	"github.com/policygate/policygate/internal/testwait"
)

// copyPolicies copies the shipped policy folder (policy files only) into a
// new temporary folder that a test may edit.
func copyPolicies(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "policies")
	err := filepath.WalkDir("../../policies", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("../../policies", path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !strings.HasSuffix(path, ".rego") && !strings.HasSuffix(path, ".json") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// eventually polls cond until it holds; only a broken reload takes the
// whole limit.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !testwait.Until(15*time.Second, cond) {
		t.Fatalf("%s: not within 15s", what)
	}
}

// routesJSON is the shipped route table with private-scoped requiring scope.
func routesJSON(scope string) string {
	return fmt.Sprintf(`{"routes": {
		"/api/public": {"GET": {"access": "public"}},
		"/api/private": {"GET": {"access": "authenticated"}},
		"/api/private-scoped": {"GET": {"access": "authenticated", "scopes": [%q]}}
	}}`, scope)
}

type readyBody struct {
	Status  string            `json:"status"`
	Checks  map[string]string `json:"checks"`
	Details struct {
		Policy struct {
			Source      string  `json:"source"`
			Revision    string  `json:"revision"`
			Activations float64 `json:"activations"`
			Failures    float64 `json:"failures"`
			LastError   string  `json:"last_error"`
		} `json:"policy"`
	} `json:"details"`
}

func readyz(t *testing.T, s *server) (int, readyBody) {
	t.Helper()
	resp, err := http.Get(s.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body readyBody
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("/readyz body: %v", err)
	}
	return resp.StatusCode, body
}

// metric returns the value of the first sample whose line starts with name.
func metric(t *testing.T, s *server, name string) float64 {
	t.Helper()
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `(?:\{[^}]*\})? (\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("metric %s not exported:\n%s", name, b)
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// A policy author edits data.json while the server runs: the edit takes
// effect without a restart; a broken edit does not, and says why.
func TestRunLiveReload(t *testing.T) {
	p := authntest.NewProvider(t)
	dir := copyPolicies(t)
	t.Chdir(t.TempDir())
	s := startServer(t, nil, map[string]string{
		"LISTEN_ADDR": "127.0.0.1:0", "AUTH_ISSUER": p.Issuer, "AUTH_AUDIENCE": authntest.Audience, "POLICY_DIR": dir,
	})
	token := p.Token(t, map[string]any{"scope": "read:messages"})
	for range 2 { // the second answer comes from the decision cache
		if got, _ := get(t, s.url+"/api/private-scoped", token); got != 200 {
			t.Fatalf("before the edit: %d, want 200", got)
		}
	}
	if got := metric(t, s, `policygate_decision_cache_lookups_total{result="hit"}`); got < 1 {
		t.Fatalf("decision cache hits = %v, want >= 1: the edit must replace a cached answer", got)
	}
	_, before := readyz(t, s)

	// Good edit: the route now requires another scope.
	testfile.Write(t, filepath.Join(dir, "authz", "data.json"), routesJSON("read:admin"))
	eventually(t, "the edit takes effect", func() bool {
		got, _ := get(t, s.url+"/api/private-scoped", token)
		return got == 403
	})
	code, after := readyz(t, s)
	if code != 200 || after.Details.Policy.Revision == before.Details.Policy.Revision || after.Details.Policy.Activations != 2 {
		t.Errorf("/readyz after the edit = %d %+v, want 200, a new revision (was %s), 2 activations", code, after, before.Details.Policy.Revision)
	}
	if !strings.Contains(s.stderr.String(), after.Details.Policy.Revision) {
		t.Errorf("the new revision %s is not logged at activation", after.Details.Policy.Revision)
	}

	// Broken edit: the previous policy keeps serving; /readyz stays 200 and
	// says why the edit is not active; metrics count it.
	testfile.Write(t, filepath.Join(dir, "authz", "authz.rego"), "package authz\n\ndecision := {\"allowed\": true} if { x }\n")
	eventually(t, "the broken edit is reported", func() bool {
		_, body := readyz(t, s)
		return body.Details.Policy.LastError != ""
	})
	code, broken := readyz(t, s)
	if code != 200 || broken.Details.Policy.Revision != after.Details.Policy.Revision ||
		!strings.Contains(broken.Details.Policy.LastError, "authz/authz.rego:3: rego_unsafe_var_error") {
		t.Errorf("/readyz after a broken edit = %d %+v, want 200, revision %s kept, the compiler's message with file and line", code, broken, after.Details.Policy.Revision)
	}
	if got, body := get(t, s.url+"/api/private-scoped", token); got != 403 || body["error"] != "insufficient_scope" {
		t.Errorf("after the broken edit: %d %v, want the previous policy's 403 insufficient_scope", got, body)
	}
	if !strings.Contains(s.stderr.String(), "rego_unsafe_var_error") {
		t.Errorf("the compiler's message is not logged:\n%s", s.stderr.String())
	}
	if got := metric(t, s, "policygate_policy_reload_failures_total"); got < 1 {
		t.Errorf("policygate_policy_reload_failures_total = %v, want >= 1", got)
	}
	if got := metric(t, s, "policygate_policy_activations_total"); got != 2 {
		t.Errorf("policygate_policy_activations_total = %v, want 2", got)
	}
	if got := metric(t, s, `policygate_policy_info{revision="`+after.Details.Policy.Revision+`",source="`+dir+`"}`); got != 1 {
		t.Errorf("policygate_policy_info = %v, want 1 for the active revision", got)
	}
}

// TestRunReloadUnderLoad flips the required scope back and forth while
// clients keep asking. Every answer must come from one whole policy: 200
// (read:messages required and granted) or 403 insufficient_scope (write
// required). No 5xx, no 503 (no policy), no access_denied (undecidable).
func TestRunReloadUnderLoad(t *testing.T) {
	p := authntest.NewProvider(t)
	dir := copyPolicies(t)
	t.Chdir(t.TempDir())
	s := startServer(t, nil, map[string]string{
		"LISTEN_ADDR": "127.0.0.1:0", "AUTH_ISSUER": p.Issuer, "AUTH_AUDIENCE": authntest.Audience, "POLICY_DIR": dir,
	})
	token := p.Token(t, map[string]any{"scope": "read:messages"})

	const clients, maxRequests = 4, 20000
	var stop atomic.Bool
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[string]int{}
	for range clients {
		wg.Go(func() {
			client := &http.Client{Timeout: 10 * time.Second}
			for n := 0; n < maxRequests && !stop.Load(); n++ {
				req, _ := http.NewRequest("GET", s.url+"/api/private-scoped", nil)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := client.Do(req)
				if err != nil {
					t.Errorf("request: %v", err)
					return
				}
				var body map[string]any
				json.NewDecoder(resp.Body).Decode(&body)
				resp.Body.Close()
				key := fmt.Sprintf("%d %v", resp.StatusCode, body["error"])
				mu.Lock()
				seen[key]++
				mu.Unlock()
			}
		})
	}
	for i := range 4 {
		scope, want := "write:messages", 403
		if i%2 == 1 {
			scope, want = "read:messages", 200
		}
		testfile.Write(t, filepath.Join(dir, "authz", "data.json"), routesJSON(scope))
		eventually(t, fmt.Sprintf("flip %d to %s", i, scope), func() bool {
			got, _ := get(t, s.url+"/api/private-scoped", token)
			return got == want
		})
	}
	stop.Store(true)
	wg.Wait()
	for key, n := range seen {
		if key != "200 <nil>" && key != "403 insufficient_scope" {
			t.Errorf("%d responses %q during reloads; want only 200 or 403 insufficient_scope", n, key)
		}
	}
	t.Logf("responses during 4 reloads: %v", seen)
}

// TestRunDecisionLogStdout checks the lines an operator greps for a 403:
// one JSON line per decision on stdout, found by the X-Decision-Id of the
// response, with neither the raw token nor secret claims.
func TestRunDecisionLogStdout(t *testing.T) {
	p := authntest.NewProvider(t)
	t.Chdir(t.TempDir())
	s := startServer(t, nil, map[string]string{
		"LISTEN_ADDR": "127.0.0.1:0", "AUTH_ISSUER": p.Issuer, "AUTH_AUDIENCE": authntest.Audience, "DECISION_LOG": "stdout",
	})
	const email, secret = "alice@example.com", "pw-0123456789"
	token := p.Token(t, map[string]any{"email": email, "https://example.com/password": secret})
	req, _ := http.NewRequest("GET", s.url+"/api/private-scoped", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Cookie", "session=cookie-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Header.Get("X-Decision-Id")
	if resp.StatusCode != 403 || id == "" {
		t.Fatalf("GET /api/private-scoped = %d, X-Decision-Id %q; want 403 with an id", resp.StatusCode, id)
	}

	out := s.stdout.String()
	for _, leak := range []string{token, strings.Split(token, ".")[1], email, secret, "cookie-secret", "Bearer"} {
		if strings.Contains(out, leak) || strings.Contains(s.stderr.String(), leak) {
			t.Errorf("logs contain %q", leak)
		}
	}
	var found map[string]any
	for line := range strings.Lines(out) {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("stdout line is not one JSON object: %v\n%q", err, line)
		}
		if ev["decision_id"] == id {
			found = ev
		}
	}
	if found == nil {
		t.Fatalf("no decision-log line with decision_id %s:\n%s", id, out)
	}
	result, _ := found["result"].(map[string]any)
	input, _ := found["input"].(map[string]any)
	claims, _ := input["claims"].(map[string]any)
	if result["reason"] != "insufficient_scope" || claims["sub"] == nil || claims["email"] != "**REDACTED**" {
		t.Errorf("decision line = %v, want the 403's reason, the subject, a redacted email", found)
	}
	if found["path"] != "authz/decision" || found["timestamp"] == nil || found["metrics"] == nil || found["bundles"] == nil {
		t.Errorf("decision line lacks OPA's fields: %v", found)
	}
}

// With POLICY_TESTS_MUST_PASS, an edit that breaks the shipped Rego tests
// (policies_test beside policies) is refused although it compiles.
func TestRunTestsMustPass(t *testing.T) {
	p := authntest.NewProvider(t)
	dir := copyPolicies(t)
	tests := dir + "_test"
	if err := os.MkdirAll(tests, 0o755); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("../../policies_test/*.rego")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		testfile.Write(t, filepath.Join(tests, filepath.Base(f)), string(b))
	}
	t.Chdir(t.TempDir())
	s := startServer(t, nil, map[string]string{
		"LISTEN_ADDR": "127.0.0.1:0", "AUTH_ISSUER": p.Issuer, "AUTH_AUDIENCE": authntest.Audience,
		"POLICY_DIR": dir, "POLICY_TESTS_MUST_PASS": "true",
	})
	token := p.Token(t, map[string]any{"scope": "read:messages"})

	testfile.Write(t, filepath.Join(dir, "authz", "data.json"), routesJSON("read:admin"))
	eventually(t, "the refused edit is reported", func() bool {
		_, body := readyz(t, s)
		return body.Details.Policy.LastError != ""
	})
	code, body := readyz(t, s)
	if code != 200 || !strings.Contains(body.Details.Policy.LastError, "policy tests:") || !strings.Contains(body.Details.Policy.LastError, "authz_test.rego:") {
		t.Errorf("/readyz = %d %+v, want 200 and the failing tests named with file and line", code, body)
	}
	if got, _ := get(t, s.url+"/api/private-scoped", token); got != 200 {
		t.Errorf("after a refused edit: %d, want the previous policy's 200", got)
	}
}

// Dev mode watches ./policies too.
func TestRunDevModeWatchesPolicyFolder(t *testing.T) {
	dir := copyPolicies(t)
	t.Chdir(filepath.Dir(dir)) // ./policies is the copy
	s := startServer(t, []string{"--dev"}, map[string]string{"LISTEN_ADDR": "127.0.0.1:0"})
	_, before := readyz(t, s)
	if before.Details.Policy.Source != "policies" {
		t.Fatalf("policy source = %q, want ./policies", before.Details.Policy.Source)
	}
	testfile.Write(t, filepath.Join(dir, "authz", "data.json"), routesJSON("read:admin"))
	eventually(t, "dev mode picks up the edit", func() bool {
		_, after := readyz(t, s)
		return after.Details.Policy.Revision != before.Details.Policy.Revision
	})
}
