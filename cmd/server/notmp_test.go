package main

import (
	"path/filepath"
	"testing"

	"github.com/policygate/policygate/internal/authn/authntest"
)

// TestRunWithoutTempDir: a scratch image has no /tmp; the server starts
// and serves from a policy folder all the same.
func TestRunWithoutTempDir(t *testing.T) {
	p := authntest.NewProvider(t)
	dir := copyPolicies(t)
	t.Chdir(t.TempDir())
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "no-such-dir"))
	s := startServer(t, nil, map[string]string{
		"LISTEN_ADDR": "127.0.0.1:0", "AUTH_ISSUER": p.Issuer, "AUTH_AUDIENCE": authntest.Audience, "POLICY_DIR": dir,
	})
	if got, body := get(t, s.url+"/api/public", ""); got != 200 {
		t.Errorf("/api/public = %d %v, want 200", got, body)
	}
}
