package atomicwriter_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/policygate/policygate/internal/atomicwriter"
)

func TestWriteLayout(t *testing.T) {
	dir := t.TempDir()
	if err := atomicwriter.Write(dir, map[string][]byte{"authz/data.json": []byte("1"), "top.txt": []byte("t")}); err != nil {
		t.Fatal(err)
	}
	first, err := os.Readlink(filepath.Join(dir, atomicwriter.Data))
	if err != nil || !strings.HasPrefix(first, "..20") {
		t.Fatalf("..data -> %q, %v; want a ..<timestamp> folder", first, err)
	}
	if link, err := os.Readlink(filepath.Join(dir, "authz")); err != nil || link != "..data/authz" {
		t.Errorf("authz -> %q, %v; want ..data/authz", link, err)
	}
	if err := atomicwriter.Write(dir, map[string][]byte{"authz/data.json": []byte("2")}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "authz", "data.json")); err != nil || string(b) != "2" {
		t.Errorf("authz/data.json = %q, %v; want 2", b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, first)); !os.IsNotExist(err) {
		t.Errorf("old version %s still there (%v)", first, err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "top.txt")); !os.IsNotExist(err) {
		t.Errorf("top.txt link kept after leaving the payload (%v)", err)
	}
}
