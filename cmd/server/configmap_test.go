package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/policygate/policygate/internal/atomicwriter"
	"github.com/policygate/policygate/internal/authn/authntest"
)

// configMapFiles reads the shipped policy folder's files, keyed by their
// slash-separated path, as a ConfigMap with items paths would hold them.
func configMapFiles(t *testing.T) map[string][]byte {
	t.Helper()
	src := copyPolicies(t)
	files := map[string][]byte{}
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		b, err := os.ReadFile(path)
		files[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestRunConfigMapPolicy mounts the shipped policy the way the kubelet
// lays out a ConfigMap volume (files in "..<timestamp>", "..data" link,
// top-level symlinks), then updates it the way the kubelet does: the
// policy loads with its routes at data.authz, and the update is seen by
// the watcher and activated.
func TestRunConfigMapPolicy(t *testing.T) {
	p := authntest.NewProvider(t)
	dir := filepath.Join(t.TempDir(), "policies")
	files := configMapFiles(t)
	if err := atomicwriter.Write(dir, files); err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	s := startServer(t, nil, map[string]string{
		"LISTEN_ADDR": "127.0.0.1:0", "AUTH_ISSUER": p.Issuer, "AUTH_AUDIENCE": authntest.Audience, "POLICY_DIR": dir,
	})
	if got, body := get(t, s.url+"/api/public", ""); got != 200 {
		t.Fatalf("/api/public = %d %v, want 200: the ConfigMap's data.json must load at data.authz", got, body)
	}
	token := p.Token(t, map[string]any{"scope": "read:messages"})
	if got, body := get(t, s.url+"/api/private-scoped", token); got != 200 {
		t.Fatalf("/api/private-scoped = %d %v, want 200", got, body)
	}
	_, before := readyz(t, s)

	files["authz/data.json"] = []byte(routesJSON("read:admin"))
	if err := atomicwriter.Write(dir, files); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the ConfigMap update takes effect", func() bool {
		got, _ := get(t, s.url+"/api/private-scoped", token)
		return got == 403
	})
	code, after := readyz(t, s)
	if code != 200 || after.Details.Policy.Revision == before.Details.Policy.Revision || after.Details.Policy.LastError != "" {
		t.Errorf("/readyz after the update = %d %+v, want 200, a new revision (was %s), no error", code, after, before.Details.Policy.Revision)
	}
	if got, _ := get(t, s.url+"/api/public", ""); got != 200 {
		t.Errorf("/api/public after the update = %d, want 200", got)
	}
}
