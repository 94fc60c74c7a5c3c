package authz_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/policygate/policygate/internal/atomicwriter"
)

// kubeletFolder lays files out as a ConfigMap volume (see atomicwriter).
func kubeletFolder(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	raw := make(map[string][]byte, len(files))
	for name, content := range files {
		raw[name] = []byte(content)
	}
	if err := atomicwriter.Write(dir, raw); err != nil {
		t.Fatal(err)
	}
}

// TestConfigMapFolder: a policy folder mounted from a ConfigMap (real files
// in "..<timestamp>", top-level symlinks through "..data") loads with its
// data at data.authz, and an update (a new "..data") is activated by
// Reload. A loader that skipped the symlinks would put the data under
// data["..<timestamp>"] and find no decision rule at the top.
func TestConfigMapFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "policies")
	kubeletFolder(t, dir, map[string]string{"authz/authz.rego": accessRego, "authz/data.json": publicData})
	if _, err := os.Stat(filepath.Join(dir, "..data", "authz", "data.json")); err != nil {
		t.Fatalf("layout: %v", err)
	}

	e := startEngine(t, dir)
	if got := decideReason(t, e); got != "public" {
		t.Fatalf("reason = %q, want public: data.json must load at data.authz", got)
	}
	before := e.Revision()

	kubeletFolder(t, dir, map[string]string{"authz/authz.rego": accessRego, "authz/data.json": authData})
	if err := e.Reload(context.Background()); err != nil {
		t.Fatalf("Reload() after the ConfigMap update: %v", err)
	}
	if got := decideReason(t, e); got != "authenticated" {
		t.Errorf("reason after the update = %q, want authenticated", got)
	}
	if e.Revision() == before {
		t.Errorf("revision unchanged (%s) after the update", before)
	}

	rev, err := policyRevision(dir)
	if err != nil || rev != e.Revision() {
		t.Errorf("policyRevision() = %q, %v; want the active revision %q", rev, err, e.Revision())
	}
}
