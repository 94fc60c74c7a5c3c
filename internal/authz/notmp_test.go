package authz_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/policygate/policygate/internal/testfile"
)

// TestFolderModeNeedsNoTempDir: a scratch image has no /tmp and a
// read-only root file system has nowhere to write, so a policy folder must
// load and reload without a temporary folder.
func TestFolderModeNeedsNoTempDir(t *testing.T) {
	dir := testfile.Dir(t, map[string]string{"authz/authz.rego": accessRego, "authz/data.json": publicData})
	missing := filepath.Join(t.TempDir(), "no-such-dir")
	t.Setenv("TMPDIR", missing)
	if got := os.TempDir(); got != missing {
		t.Fatalf("os.TempDir() = %q, want %q", got, missing)
	}

	e := startEngine(t, dir)
	if got := decideReason(t, e); got != "public" {
		t.Fatalf("reason = %q, want public", got)
	}
	testfile.Write(t, filepath.Join(dir, "authz/data.json"), authData)
	if err := e.Reload(context.Background()); err != nil {
		t.Fatalf("Reload() without a temp dir: %v", err)
	}
	if got := decideReason(t, e); got != "authenticated" {
		t.Errorf("reason after the reload = %q, want authenticated", got)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("something created TMPDIR %s (%v)", missing, err)
	}
}
