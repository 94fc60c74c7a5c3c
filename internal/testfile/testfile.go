package testfile

import (
	"os"
	"path/filepath"
	"testing"
)

// Write writes content to path (mode 0644), creating the folders above it,
// and fails the test when it cannot.
func Write(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Dir writes files (slash-separated relative path -> content) into a new
// temporary folder and returns it.
func Dir(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		Write(t, filepath.Join(dir, filepath.FromSlash(name)), content)
	}
	return dir
}
