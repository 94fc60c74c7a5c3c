package build

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRepo(t *testing.T) {
	write := func(mod string) string {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(mod), 0o600); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	tests := []struct {
		name    string
		dir     string
		wantErr bool
	}{
		{name: "policygate", dir: write("module github.com/policygate/policygate\n\ngo 1.26\n")},
		{name: "other_module", dir: write("module example.com/other\n"), wantErr: true},
		{name: "bench_module", dir: write("module github.com/policygate/policygate/bench\n"), wantErr: true},
		{name: "no_go_mod", dir: t.TempDir(), wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Repo(tc.dir)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Repo(%q) error = %v, want error %t", tc.dir, err, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "is not the policygate repository") {
				t.Errorf("Repo(%q) error = %v, want it to name the repository", tc.dir, err)
			}
			if err == nil && got != tc.dir {
				t.Errorf("Repo(%q) = %q, want %q", tc.dir, got, tc.dir)
			}
		})
	}
}
