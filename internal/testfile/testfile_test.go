package testfile_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/policygate/policygate/internal/testfile"
)

func TestWrite(t *testing.T) {
	tests := []struct {
		name string
		path string // under a fresh temporary folder
	}{
		{name: "in_existing_folder", path: "data.json"},
		{name: "in_new_folders", path: filepath.Join("authz", "v1", "data.json")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tc.path)
			testfile.Write(t, path, `{"v": 1}`)
			testfile.Write(t, path, `{"v": 2}`) // replaces, does not append
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != `{"v": 2}` {
				t.Errorf("ReadFile(%q) = %q, want %q", tc.path, got, `{"v": 2}`)
			}
		})
	}
}

func TestDir(t *testing.T) {
	dir := testfile.Dir(t, map[string]string{"a.txt": "one", "sub/b.txt": "two"})
	for name, want := range map[string]string{"a.txt": "one", "sub/b.txt": "two"} {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil || string(got) != want {
			t.Errorf("Dir: %s = %q, %v; want %q", name, got, err, want)
		}
	}
}
