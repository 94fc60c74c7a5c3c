package authz_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/policygate/policygate/internal/authz"
	"github.com/policygate/policygate/internal/testfile"
)

// A policy whose answer names the route's access from data.json.
const (
	accessRego = "package authz\n\ndecision := {\"allowed\": data.authz.access == \"public\", \"reason\": data.authz.access}\n"
	publicData = `{"access": "public"}`
	authData   = `{"access": "authenticated"}`
)

func decideReason(t *testing.T, e *authz.Engine) string {
	t.Helper()
	d, err := e.Decide(context.Background(), authz.Input{Method: "GET", Path: []string{"x"}})
	if err != nil {
		t.Fatalf("Decide() error: %v", err)
	}
	return d.Reason
}

func revisionOf(t *testing.T, dir string) string {
	t.Helper()
	rev, err := policyRevision(dir)
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

func TestReloadActivatesGoodEdit(t *testing.T) {
	dir := testfile.Dir(t, map[string]string{"authz/authz.rego": accessRego, "authz/data.json": publicData})
	e := startEngine(t, dir)
	if got, want := e.Revision(), revisionOf(t, dir); got != want {
		t.Fatalf("Revision() = %q, want the folder's %q", got, want)
	}
	if got := decideReason(t, e); got != "public" {
		t.Fatalf("reason before edit = %q, want public", got)
	}
	first := e.Revision()

	testfile.Write(t, filepath.Join(dir, "authz/data.json"), authData)
	if err := e.Reload(context.Background()); err != nil {
		t.Fatalf("Reload() = %v", err)
	}
	if got := decideReason(t, e); got != "authenticated" {
		t.Errorf("reason after edit = %q, want authenticated", got)
	}
	s := e.Status()
	if s.Revision == first || s.Revision != revisionOf(t, dir) {
		t.Errorf("Revision after edit = %q (was %q), want the folder's %q", s.Revision, first, revisionOf(t, dir))
	}
	if s.Activations != 2 || s.Failures != 0 || s.LastError != "" {
		t.Errorf("Status() = %+v, want 2 activations, no failure", s)
	}

	// Reloading an unchanged folder activates nothing.
	if err := e.Reload(context.Background()); err != nil {
		t.Fatalf("Reload() unchanged = %v", err)
	}
	if s := e.Status(); s.Activations != 2 {
		t.Errorf("Activations after a no-op reload = %d, want 2", s.Activations)
	}
}

func TestReloadKeepsPolicyOnBrokenEdit(t *testing.T) {
	tests := []struct {
		name, file, content string
		wantErr             string // the compiler's message, with file and line
	}{
		{"syntax_error", "authz/authz.rego", "package authz\n\ndecision := {\n", "authz/authz.rego:4: rego_parse_error: unexpected eof"},
		{"unsafe_variable", "authz/authz.rego", "package authz\n\ndecision := {\"allowed\": x} if { x != 1 }\n", "authz/authz.rego:3: rego_unsafe_var_error"},
		{"missing_decision", "authz/authz.rego", "package authz\n\nallow := true\n", "no rule data.authz.decision"},
		{"invalid_json", "authz/data.json", `{"access": `, "authz/data.json"},
		{"type_error", "authz/extra.rego", "package authz\n\nbad := 1 + \"one\"\n", "authz/extra.rego:3: rego_type_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := testfile.Dir(t, map[string]string{"authz/authz.rego": accessRego, "authz/data.json": publicData})
			e := startEngine(t, dir)
			good := e.Revision()

			testfile.Write(t, filepath.Join(dir, tt.file), tt.content)
			err := e.Reload(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Reload() = %v, want an error containing %q", err, tt.wantErr)
			}
			if got := decideReason(t, e); got != "public" {
				t.Errorf("reason after broken edit = %q, want the old policy's public", got)
			}
			s := e.Status()
			if s.Revision != good || s.Failures != 1 || !strings.Contains(s.LastError, tt.wantErr) || s.LastErrorAt.IsZero() {
				t.Errorf("Status() = %+v, want revision %s kept, 1 failure, LastError naming %q", s, good, tt.wantErr)
			}

			// Undoing the edit clears the error without a new activation.
			testfile.Write(t, filepath.Join(dir, "authz/authz.rego"), accessRego)
			testfile.Write(t, filepath.Join(dir, "authz/data.json"), publicData)
			os.Remove(filepath.Join(dir, "authz/extra.rego"))
			if err := e.Reload(context.Background()); err != nil {
				t.Fatalf("Reload() after undo = %v", err)
			}
			if s := e.Status(); s.LastError != "" || s.Revision != good || s.Activations != 1 {
				t.Errorf("Status() after undo = %+v, want no error, revision %s, 1 activation", s, good)
			}
		})
	}
}

// Tests beside the policy (a *_test.rego in the folder and a separate test
// folder) guard activation when TestsMustPass is set.
func TestReloadTestsMustPass(t *testing.T) {
	const publicTest = "package authz_test\n\ntest_public if data.authz.decision.reason == \"public\"\n"
	dir := testfile.Dir(t, map[string]string{
		"authz/authz.rego":      accessRego,
		"authz/data.json":       publicData,
		"authz/authz_test.rego": "package authz_test\n\ntest_has_reason if data.authz.decision.reason\n",
	})
	testDir := testfile.Dir(t, map[string]string{"authz/public_test.rego": publicTest})
	cfg := authz.Config{PolicyDir: dir, TestsMustPass: true, TestDirs: []string{testDir}}
	e, err := authz.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Stop(context.Background()) })
	awaitPolicy(t, e)

	// An edit that breaks a test is refused, naming the test.
	testfile.Write(t, filepath.Join(dir, "authz/data.json"), authData)
	err = e.Reload(context.Background())
	if err == nil || !strings.Contains(err.Error(), "public_test.rego:3") || !strings.Contains(err.Error(), "test_public") {
		t.Fatalf("Reload() = %v, want the failing test test_public named with file and line", err)
	}
	if got := decideReason(t, e); got != "public" {
		t.Errorf("reason after refused edit = %q, want public", got)
	}

	// Fixing the test (not the policy) lets the same edit through.
	testfile.Write(t, filepath.Join(testDir, "authz/public_test.rego"), strings.ReplaceAll(publicTest, `"public"`, `"authenticated"`))
	if err := e.Reload(context.Background()); err != nil {
		t.Fatalf("Reload() with updated test = %v", err)
	}
	if got := decideReason(t, e); got != "authenticated" {
		t.Errorf("reason after accepted edit = %q, want authenticated", got)
	}

	// Test files are not part of the activated policy.
	if _, err := e.Decide(context.Background(), authz.Input{}); err != nil {
		t.Fatal(err)
	}

	t.Run("failing_at_start", func(t *testing.T) {
		broken := testfile.Dir(t, map[string]string{"authz/authz.rego": accessRego, "authz/data.json": authData})
		_, err := authz.New(context.Background(), authz.Config{PolicyDir: broken, TestsMustPass: true, TestDirs: []string{testDir}})
		if err != nil {
			t.Fatalf("New() = %v; the current test expects authenticated", err)
		}
		testfile.Write(t, filepath.Join(broken, "authz/data.json"), publicData)
		_, err = authz.New(context.Background(), authz.Config{PolicyDir: broken, TestsMustPass: true, TestDirs: []string{testDir}})
		if err == nil || !strings.Contains(err.Error(), "test_public") {
			t.Errorf("New() = %v, want the failing test named", err)
		}
	})
	t.Run("no_tests", func(t *testing.T) {
		bare := testfile.Dir(t, map[string]string{"authz/authz.rego": accessRego, "authz/data.json": publicData})
		_, err := authz.New(context.Background(), authz.Config{PolicyDir: bare, TestsMustPass: true})
		if err == nil || !strings.Contains(err.Error(), "no *_test.rego") {
			t.Errorf("New() = %v, want an error: no tests means nothing guards", err)
		}
	})
}

// TestReloadIsAtomic decides continuously while the policy flips between
// two versions that change both the Rego and the data. A decision must
// come from one whole version: "a+a" or "b+b", never a mix ("a+b"), never
// an error (no policy).
func TestReloadIsAtomic(t *testing.T) {
	version := func(v string) map[string]string {
		return map[string]string{
			"authz/authz.rego": fmt.Sprintf("package authz\n\ndecision := {\"allowed\": true, \"reason\": concat(\"+\", [%q, data.authz.v])}\n", v),
			"authz/data.json":  fmt.Sprintf(`{"v": %q}`, v),
		}
	}
	dir := testfile.Dir(t, version("a"))
	e := startEngine(t, dir)

	const deciders, reloads, maxDecisions = 4, 20, 200000
	var wg sync.WaitGroup
	done := make(chan struct{})
	seen := make([]map[string]int, deciders)
	errs := make(chan error, deciders)
	for i := range deciders {
		seen[i] = map[string]int{}
		wg.Go(func() {
			for n := 0; n < maxDecisions; n++ {
				select {
				case <-done:
					return
				default:
				}
				d, err := e.Decide(context.Background(), authz.Input{Method: "GET", Path: []string{"x"}})
				if err != nil {
					errs <- err
					return
				}
				seen[i][d.Reason]++
			}
		})
	}
	for n := range reloads {
		v := "b"
		if n%2 == 1 {
			v = "a"
		}
		for name, content := range version(v) {
			testfile.Write(t, filepath.Join(dir, name), content)
		}
		if err := e.Reload(context.Background()); err != nil {
			t.Fatalf("Reload() #%d = %v", n, err)
		}
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Decide() during reloads: %v", err)
	}
	total := map[string]int{}
	for _, m := range seen {
		for reason, n := range m {
			total[reason] += n
		}
	}
	for reason := range total {
		if reason != "a+a" && reason != "b+b" {
			t.Errorf("decided %d times with %q: a mix of two versions", total[reason], reason)
		}
	}
	if s := e.Status(); s.Activations != reloads+1 {
		t.Errorf("Activations = %d, want %d", s.Activations, reloads+1)
	}
	t.Logf("decisions during %d reloads: %v", reloads, total)
}

func TestNewRefusesBrokenFolder(t *testing.T) {
	dir := testfile.Dir(t, map[string]string{"authz/authz.rego": "package authz\n\ndecision := {\n"})
	_, err := authz.New(context.Background(), authz.Config{PolicyDir: dir})
	if err == nil || !strings.Contains(err.Error(), "authz/authz.rego:4: rego_parse_error") {
		t.Errorf("New() = %v, want the compiler's message with file and line", err)
	}
	if _, err := authz.New(context.Background(), authz.Config{PolicyDir: filepath.Join(dir, "missing")}); err == nil {
		t.Error("New() on a missing folder = nil error")
	}
}
