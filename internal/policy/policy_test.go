package policy_test

import (
	"strings"
	"testing"

	"github.com/policygate/policygate/internal/policy"
	"github.com/policygate/policygate/internal/testfile"
	"github.com/policygate/policygate/policies"
)

// loadRevision is LoadDir for a test that wants the revision or the error.
func loadRevision(dir string) (string, error) {
	p, err := policy.LoadDir(dir)
	if err != nil {
		return "", err
	}
	return p.Revision, nil
}

func TestLoadDir(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		wantErr string
	}{
		{"valid", map[string]string{"authz/a.rego": "package authz\n\ndecision := {\"allowed\": false}\n"}, ""},
		{"syntax_error", map[string]string{"authz/a.rego": "package authz\n\ndecision := {\n"}, "a.rego:"},
		{"unsafe_variable", map[string]string{"authz/a.rego": "package authz\n\ndecision := {\"allowed\": x} if { x != 1 }\n"}, "unsafe"},
		{"no_decision", map[string]string{"authz/a.rego": "package authz\n\nallow := true\n"}, "data.authz.decision"},
		{"invalid_json", map[string]string{"authz/a.rego": "package authz\n\ndecision := {}\n", "authz/data.json": "{"}, "data.json"},
		{"empty", map[string]string{}, "data.authz.decision"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rev, err := loadRevision(testfile.Dir(t, tt.files))
			if tt.wantErr == "" {
				if err != nil || !strings.HasPrefix(rev, "sha256:") {
					t.Errorf("LoadDir() = %q, %v", rev, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("LoadDir() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestEmbeddedPolicyMatchesFolder(t *testing.T) {
	embedded, err := policy.Load(policies.FS)
	if err != nil {
		t.Fatal(err)
	}
	folder, err := policy.LoadDir("../../policies")
	if err != nil {
		t.Fatal(err)
	}
	if embedded.Revision != folder.Revision {
		t.Errorf("embedded revision %s != folder revision %s: the go:embed list misses a policy file", embedded.Revision, folder.Revision)
	}
}
