package policywatch_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/policygate/policygate/internal/policywatch"
	"github.com/policygate/policygate/internal/testfile"
)

const waitLimit = 10 * time.Second // generous: only a broken watcher takes this long

// watch runs a watcher on dir and returns a channel that receives one value
// per reload.
func watch(t *testing.T, dirs ...string) <-chan struct{} {
	t.Helper()
	w, err := policywatch.New(dirs, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	reloads := make(chan struct{}, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx, func(context.Context) { reloads <- struct{}{} })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(waitLimit):
			t.Error("Run did not return after cancel")
		}
	})
	return reloads
}

func waitReload(t *testing.T, reloads <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-reloads:
	case <-time.After(waitLimit):
		t.Fatalf("no reload after %s", what)
	}
}

func TestWatchReloadsAfterChange(t *testing.T) {
	dir, tests := t.TempDir(), t.TempDir()
	os.Mkdir(filepath.Join(dir, "authz"), 0o755)
	reloads := watch(t, dir, tests)

	testfile.Write(t, filepath.Join(dir, "authz", "data.json"), "{}")
	waitReload(t, reloads, "writing a file in a subfolder")

	testfile.Write(t, filepath.Join(tests, "authz_test.rego"), "package x")
	waitReload(t, reloads, "writing a file in the second folder")

	// A folder created after the start is watched too.
	sub := filepath.Join(dir, "system", "log")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	waitReload(t, reloads, "creating a folder")
	testfile.Write(t, filepath.Join(sub, "mask.rego"), "package system.log")
	waitReload(t, reloads, "writing into a new folder")

	// An editor's atomic save: write a temp file, rename it over the old.
	tmp := filepath.Join(dir, "authz", ".data.json.tmp")
	testfile.Write(t, tmp, `{"a": 1}`)
	if err := os.Rename(tmp, filepath.Join(dir, "authz", "data.json")); err != nil {
		t.Fatal(err)
	}
	waitReload(t, reloads, "renaming a file into place")

	if err := os.Remove(filepath.Join(dir, "authz", "data.json")); err != nil {
		t.Fatal(err)
	}
	waitReload(t, reloads, "removing a file")
}

// A burst of writes (an editor, a git checkout) becomes few reloads.
func TestWatchDebouncesBursts(t *testing.T) {
	dir := t.TempDir()
	reloads := watch(t, dir)
	const writes = 50
	for i := range writes {
		testfile.Write(t, filepath.Join(dir, "a.rego"), "package a\n"+string(rune('a'+i%26)))
	}
	waitReload(t, reloads, "a burst of writes")
	// Let any trailing reload of the burst arrive, then count.
	time.Sleep(2 * policywatch.MaxWait)
	n := 1 + len(reloads)
	if n >= writes/2 {
		t.Errorf("%d writes caused %d reloads, want them debounced", writes, n)
	}
}

func TestWatchIgnoresEditorFiles(t *testing.T) {
	dir := t.TempDir()
	reloads := watch(t, dir)
	for _, name := range []string{".authz.rego.swp", "authz.rego~", "4913"} {
		testfile.Write(t, filepath.Join(dir, name), "x")
	}
	select {
	case <-reloads:
		t.Error("editor swap or backup files caused a reload")
	case <-time.After(2 * policywatch.MaxWait):
	}
}

func TestNewFailsOnMissingFolder(t *testing.T) {
	if _, err := policywatch.New([]string{filepath.Join(t.TempDir(), "missing")}, nil); err == nil {
		t.Error("New() on a missing folder = nil error")
	}
}

// A policy folder replaced as a whole (rm -r; cp -r) is watched again;
// changes beside it are not reloads.
func TestWatchFolderReplaced(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "policies")
	os.Mkdir(dir, 0o755)
	reloads := watch(t, dir)

	testfile.Write(t, filepath.Join(parent, "notes.txt"), "beside the policy folder")
	select {
	case <-reloads:
		t.Fatal("a file beside the policy folder caused a reload")
	case <-time.After(2 * policywatch.MaxWait):
	}

	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	waitReload(t, reloads, "removing the folder")
	if err := os.MkdirAll(filepath.Join(dir, "authz"), 0o755); err != nil {
		t.Fatal(err)
	}
	waitReload(t, reloads, "creating the folder again")
	testfile.Write(t, filepath.Join(dir, "authz", "authz.rego"), "package authz")
	waitReload(t, reloads, "writing into the new folder")
}
