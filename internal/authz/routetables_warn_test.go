package authz_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/policygate/policygate/internal/authz"
	"github.com/policygate/policygate/internal/authz/authztest"
	"github.com/policygate/policygate/internal/testfile"
)

const noTableWarning = "policy active without a route table"

// A policy folder without a route table (POLICY_DIR one level too deep,
// or data.json left out) serves and denies everything as no_route; it is
// said in the log when it becomes so, once, and not for an empty table.
func TestPolicyWithoutRouteTableIsWarnedAbout(t *testing.T) {
	rego, err := os.ReadFile("../../policies/authz/authz.rego")
	if err != nil {
		t.Fatal(err)
	}
	shipped, err := os.ReadFile("../../policies/authz/data.json")
	if err != nil {
		t.Fatal(err)
	}
	dir := testfile.Dir(t, map[string]string{"authz/authz.rego": string(rego)})
	dataFile := filepath.Join(dir, "authz/data.json")
	var logs lockedBuffer
	e, err := authz.New(context.Background(), authz.Config{PolicyDir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Stop(context.Background()) })
	awaitPolicy(t, e)

	steps := []struct {
		name     string
		data     string // "" removes data.json
		warnings int    // warnings logged so far
		reason   string // of GET /api/public
	}{
		{name: "start_without_data", warnings: 1, reason: "no_route"},
		{name: "shipped_data", data: string(shipped), warnings: 1, reason: "public"},
		{name: "empty_table", data: `{"routes": {}}`, warnings: 1, reason: "no_route"},
		{name: "data_removed", warnings: 2, reason: "no_route"},
		{name: "hosts_only", data: `{"hosts": {}}`, warnings: 2, reason: "no_route"},
	}
	for i, s := range steps {
		if i > 0 {
			if s.data == "" {
				if err := os.Remove(dataFile); err != nil {
					t.Fatal(err)
				}
			} else {
				testfile.Write(t, dataFile, s.data)
			}
			if err := e.Reload(context.Background()); err != nil {
				t.Fatalf("%s: Reload() = %v", s.name, err)
			}
		}
		d, err := e.Decide(context.Background(), authz.Input{Method: "GET", Path: []string{"api", "public"}})
		if err != nil {
			t.Fatalf("%s: Decide() = %v", s.name, err)
		}
		if d.Reason != s.reason {
			t.Errorf("%s: reason = %q, want %q", s.name, d.Reason, s.reason)
		}
		if got := strings.Count(logs.String(), noTableWarning); got != s.warnings {
			t.Errorf("%s: %d warnings %q logged, want %d:\n%s", s.name, got, noTableWarning, s.warnings, logs.String())
		}
	}
}

// In fleet mode the warning names the bundle, not POLICY_DIR (which
// cannot be set beside OPA_CONFIG).
func TestBundleWithoutRouteTableIsWarnedAbout(t *testing.T) {
	srv, key := newBundleServer(t), authztest.NewSigningKey(t)
	e, logs := fleetEngineWithLogs(t, srv, key)
	dir := testfile.Dir(t, map[string]string{"authz/authz.rego": mustRead(t, "../../policies/authz/authz.rego")})
	srv.publish(authztest.Build(t, dir, authztest.Options{Revision: "no-data", Key: key}))
	if err := e.Reload(context.Background()); err != nil {
		t.Fatalf("Reload() = %v", err)
	}
	awaitPolicy(t, e)
	out := logs.String()
	if !strings.Contains(out, noTableWarning) || !strings.Contains(out, "the bundle has no authz/data.json") || strings.Contains(out, "POLICY_DIR") {
		t.Errorf("log = %s\nwant the warning with a hint about the bundle", out)
	}
}
