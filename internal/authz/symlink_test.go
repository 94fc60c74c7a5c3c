package authz_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/policygate/policygate/internal/authz"
	"github.com/policygate/policygate/internal/testfile"
)

// TestSymlinkInPolicyFolder: a version with a symlink inside the folder
// (which OPA's loader would skip) is refused: a fresh start fails, and on
// a reload the previous version keeps serving; replacing the link with
// the file is activated.
func TestSymlinkInPolicyFolder(t *testing.T) {
	tests := []struct {
		name string
		link string // under the policy folder, to a copy outside it
	}{
		{name: "data_file", link: "authz/data.json"},
		{name: "rego_file", link: "authz/authz.rego"},
		{name: "folder", link: "authz"},
	}
	files := map[string]string{"authz/authz.rego": accessRego, "authz/data.json": authData}
	for _, tt := range tests {
		t.Run(tt.name+"/start", func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "policies")
			for name, content := range files {
				testfile.Write(t, filepath.Join(parent, "outside", name), content)
				testfile.Write(t, filepath.Join(dir, name), content)
			}
			linkTo(t, filepath.Join(parent, "outside", tt.link), filepath.Join(dir, tt.link))
			e, err := authz.New(context.Background(), authz.Config{PolicyDir: dir})
			if err == nil {
				e.Stop(context.Background())
				t.Fatalf("New() with %s a symlink = nil error, want a refusal", tt.link)
			}
			if !strings.Contains(err.Error(), tt.link+" is a symbolic link") {
				t.Errorf("New() = %v, want an error naming %s", err, tt.link)
			}
		})
		t.Run(tt.name+"/reload", func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "policies")
			for name, content := range files {
				testfile.Write(t, filepath.Join(parent, "outside", name), content)
				testfile.Write(t, filepath.Join(dir, name), content)
			}
			testfile.Write(t, filepath.Join(dir, "authz/data.json"), publicData)
			e := startEngine(t, dir)
			before := e.Revision()

			linkTo(t, filepath.Join(parent, "outside", tt.link), filepath.Join(dir, tt.link))
			err := e.Reload(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.link+" is a symbolic link") {
				t.Fatalf("Reload() = %v, want a refusal naming %s", err, tt.link)
			}
			if got := decideReason(t, e); got != "public" || e.Revision() != before {
				t.Errorf("after the refused reload: reason %q, revision %s; want the previous version (public, %s)", got, e.Revision(), before)
			}
			if s := e.Status(); !strings.Contains(s.LastError, tt.link) {
				t.Errorf("Status().LastError = %q, want it to name %s", s.LastError, tt.link)
			}

			// The link replaced by what it pointed to: activated.
			if err := os.Remove(filepath.Join(dir, tt.link)); err != nil {
				t.Fatal(err)
			}
			for name, content := range files {
				testfile.Write(t, filepath.Join(dir, name), content)
			}
			if err := e.Reload(context.Background()); err != nil {
				t.Fatalf("Reload() after replacing the link = %v", err)
			}
			if got := decideReason(t, e); got != "authenticated" {
				t.Errorf("reason after replacing the link = %q, want authenticated", got)
			}
		})
	}
}

// linkTo replaces path (a file or folder) with a symlink to target.
func linkTo(t *testing.T, target, path string) {
	t.Helper()
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}
