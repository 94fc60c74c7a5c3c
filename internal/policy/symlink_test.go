package policy_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/policygate/policygate/internal/atomicwriter"
	"github.com/policygate/policygate/internal/policy"
	"github.com/policygate/policygate/internal/testfile"
)

// A policy that denies the routes its data.json deny-lists: loaded
// without that file it would allow everything.
const (
	denyListRego = "package authz\n\ndefault denied := 0\n\ndenied := count(data.authz.deny_list)\n\ndecision := {\"allowed\": denied == 0}\n"
	denyListData = `{"deny_list": ["/admin"]}`
)

// TestLoadDirSymlinks: OPA's loader skips symlinks, so a linked file or
// folder inside the policy folder would silently be missing from the
// policy (a deny-list in a linked data.json would fail open). Such a
// version is refused, naming the link; links that only lead to the policy
// folder (the folder itself, the kubelet's ..data layout) are fine.
func TestLoadDirSymlinks(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string // under a fresh parent folder
		links   map[string]string // link (under the parent) -> target
		dir     string            // the policy folder, under the parent
		wantErr string            // "" for a load that must succeed
	}{
		{
			name:  "no_links",
			files: map[string]string{"policies/authz/authz.rego": denyListRego, "policies/authz/data.json": denyListData},
			dir:   "policies",
		},
		{
			name:    "data_file_linked_outside",
			files:   map[string]string{"policies/authz/authz.rego": denyListRego, "shared/data.json": denyListData},
			links:   map[string]string{"policies/authz/data.json": "../../shared/data.json"},
			dir:     "policies",
			wantErr: "authz/data.json is a symbolic link",
		},
		{
			name:    "data_file_linked_inside",
			files:   map[string]string{"policies/authz/authz.rego": denyListRego, "policies/common/deny.json": denyListData},
			links:   map[string]string{"policies/authz/data.json": "../common/deny.json"},
			dir:     "policies",
			wantErr: "authz/data.json is a symbolic link",
		},
		{
			name:    "rego_file_linked",
			files:   map[string]string{"shared/authz.rego": denyListRego, "policies/authz/data.json": denyListData},
			links:   map[string]string{"policies/authz/authz.rego": "../../shared/authz.rego"},
			dir:     "policies",
			wantErr: "authz/authz.rego is a symbolic link",
		},
		{
			name:    "folder_linked",
			files:   map[string]string{"shared/authz/authz.rego": denyListRego, "shared/authz/data.json": denyListData},
			links:   map[string]string{"policies/authz": "../shared/authz"},
			dir:     "policies",
			wantErr: "authz is a symbolic link",
		},
		{
			name:    "dangling_data_link",
			files:   map[string]string{"policies/authz/authz.rego": denyListRego},
			links:   map[string]string{"policies/authz/data.json": "../../missing.json"},
			dir:     "policies",
			wantErr: "authz/data.json is a symbolic link",
		},
		{
			name:    "hidden_link",
			files:   map[string]string{"policies/authz/authz.rego": denyListRego, "policies/authz/data.json": denyListData, "shared/x.rego": "package authz\n"},
			links:   map[string]string{"policies/authz/.x.rego": "../../shared/x.rego"},
			dir:     "policies",
			wantErr: "authz/.x.rego is a symbolic link",
		},
		{
			name:    "test_file_linked",
			files:   map[string]string{"policies/authz/authz.rego": denyListRego, "policies/authz/data.json": denyListData, "shared/authz_test.rego": "package authz_test\n"},
			links:   map[string]string{"policies/authz/authz_test.rego": "../../shared/authz_test.rego"},
			dir:     "policies",
			wantErr: "authz/authz_test.rego is a symbolic link",
		},
		{
			// Emacs marks a file being edited with a dangling link named
			// .#<file>; it is never part of a policy.
			name:  "editor_lock_link",
			files: map[string]string{"policies/authz/authz.rego": denyListRego, "policies/authz/data.json": denyListData},
			links: map[string]string{"policies/authz/.#authz.rego": "user@host.1234:1700000000"},
			dir:   "policies",
		},
		{
			name:  "folder_itself_linked",
			files: map[string]string{"real/authz/authz.rego": denyListRego, "real/authz/data.json": denyListData},
			links: map[string]string{"policies": "real"},
			dir:   "policies",
		},
		{
			name:    "link_inside_linked_folder",
			files:   map[string]string{"real/authz/authz.rego": denyListRego, "shared/data.json": denyListData},
			links:   map[string]string{"policies": "real", "real/authz/data.json": "../../shared/data.json"},
			dir:     "policies",
			wantErr: "authz/data.json is a symbolic link",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := testfile.Dir(t, tt.files)
			for link, target := range tt.links {
				link = filepath.Join(parent, filepath.FromSlash(link))
				if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(filepath.FromSlash(target), link); err != nil {
					t.Fatal(err)
				}
			}
			p, err := policy.LoadDir(filepath.Join(parent, tt.dir))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("LoadDir() = %v, want no error", err)
				}
				if got := p.Data()["authz"]; got == nil {
					t.Errorf("LoadDir(): data.authz missing, want the deny-list")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("LoadDir() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestLoadDirConfigMapLayout: the kubelet's layout is all links at the
// top (authz -> ..data/authz, ..data -> ..<timestamp>); it is read through
// ..data, whose target holds real files, so it is not refused.
func TestLoadDirConfigMapLayout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "policies")
	files := map[string][]byte{"authz/authz.rego": []byte(denyListRego), "authz/data.json": []byte(denyListData)}
	if err := atomicwriter.Write(dir, files); err != nil {
		t.Fatal(err)
	}
	p, err := policy.LoadDir(dir)
	if err != nil {
		t.Fatalf("LoadDir() = %v, want the ConfigMap layout to load", err)
	}
	if p.Data()["authz"] == nil {
		t.Error("LoadDir(): data.authz missing")
	}
}

// TestTestRefusesLinks: a policy's tests folder follows the policy
// folder's rule: a linked test file or folder would be skipped (or read
// from outside the watched folder), so the run is refused, naming it.
func TestTestRefusesLinks(t *testing.T) {
	const passing = "package authz_test\n\ntest_ok if { true }\n"
	tests := []struct {
		name    string
		link    string // under the tests folder, to a copy outside it
		wantErr string
	}{
		{name: "file", link: "more_test.rego", wantErr: "more_test.rego is a symbolic link"},
		{name: "folder", link: "more", wantErr: "more is a symbolic link"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := testfile.Dir(t, map[string]string{
				"policies/authz/authz.rego":     denyListRego,
				"policies_test/authz_test.rego": passing,
				"outside/more_test.rego":        passing,
				"outside/more/more_test.rego":   passing,
			})
			p, err := policy.LoadDir(filepath.Join(parent, "policies"))
			if err != nil {
				t.Fatal(err)
			}
			testDir := filepath.Join(parent, "policies_test")
			if err := os.Symlink(filepath.Join(parent, "outside", tt.link), filepath.Join(testDir, tt.link)); err != nil {
				t.Fatal(err)
			}
			err = p.Test(context.Background(), []string{testDir})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Test() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}
