package policywatch

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestResolve(t *testing.T) {
	tests := []struct {
		name      string
		links     map[string]string // under a fresh folder holding real/
		path      string
		wantTree  string   // "" for none
		wantNames []string // in order
	}{
		{name: "plain_folder", path: "real", wantTree: "real"},
		{name: "link", links: map[string]string{"p": "real"}, path: "p", wantTree: "real", wantNames: []string{"p"}},
		{name: "chain", links: map[string]string{"p": "c", "c": "./real/"}, path: "p", wantTree: "real", wantNames: []string{"p", "c"}},
		{name: "link_above", links: map[string]string{"repo": "."}, path: "repo/real", wantTree: "real", wantNames: []string{"repo"}},
		{name: "dot_dot_in_target", links: map[string]string{"sub": "real/x/.."}, path: "sub/x", wantTree: "real/x", wantNames: []string{"sub"}},
		{name: "dot_dot_after_a_link_in_target", links: map[string]string{"l": "real/x", "sub": "l/../x"}, path: "sub", wantTree: "real/x", wantNames: []string{"sub", "l"}},
		{name: "dangling", links: map[string]string{"p": "v3"}, path: "p", wantNames: []string{"p", "v3"}},
		{name: "missing", path: "gone/deeper", wantNames: []string{"gone"}},
		{name: "loop", links: map[string]string{"a": "b", "b": "a"}, path: "a"},
		{name: "file", path: "real/x/f", wantTree: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, err := filepath.EvalSymlinks(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(base, "real", "x"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(base, "real", "x", "f"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			for link, target := range tt.links {
				if err := os.Symlink(target, filepath.Join(base, link)); err != nil {
					t.Fatal(err)
				}
			}
			tree, names, err := resolve(filepath.Join(base, tt.path))
			want := ""
			if tt.wantTree != "" {
				want = filepath.Join(base, tt.wantTree)
			}
			if tree != want || (err == nil) != (tt.wantTree != "") {
				t.Errorf("resolve(%s) = %q, %v; want %q", tt.path, tree, err, want)
			}
			if tt.name == "loop" {
				if len(names) == 0 || len(names) > maxLinks {
					t.Errorf("resolve(loop) names %d links, want 1 to %d", len(names), maxLinks)
				}
				return
			}
			var wantNames []string
			for _, n := range tt.wantNames {
				wantNames = append(wantNames, filepath.Join(base, n))
			}
			if !slices.Equal(names, wantNames) {
				t.Errorf("resolve(%s) names = %q, want %q", tt.path, names, wantNames)
			}
		})
	}
}
