package policywatch_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/policygate/policygate/internal/atomicwriter"
	"github.com/policygate/policygate/internal/policywatch"
	"github.com/policygate/policygate/internal/testfile"
)

// TestWatchConfigMapUpdate: a folder mounted from a ConfigMap changes only
// through hidden names. The kubelet writes the new version into a new
// "..<timestamp>" folder (not a change yet: "..data" still names the old
// one), then renames "..data_tmp" over "..data": that is the change.
func TestWatchConfigMapUpdate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "policies")
	if err := atomicwriter.Write(dir, map[string][]byte{"authz/data.json": []byte(`{"v": 1}`)}); err != nil {
		t.Fatal(err)
	}
	old, err := os.Readlink(filepath.Join(dir, "..data"))
	if err != nil {
		t.Fatal(err)
	}
	reloads := watch(t, dir)

	// The kubelet's steps, one by one.
	ts, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(ts, "authz"), 0o755); err != nil {
		t.Fatal(err)
	}
	testfile.Write(t, filepath.Join(ts, "authz", "data.json"), `{"v": 2}`)
	select {
	case <-reloads:
		t.Fatal("writing the next version's hidden folder caused a reload before ..data names it")
	case <-time.After(2 * policywatch.MaxWait):
	}

	if err := os.Symlink(filepath.Base(ts), filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	waitReload(t, reloads, "renaming ..data_tmp over ..data")

	if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
		t.Fatal(err)
	}
	// A second whole update through the writer is seen too.
	for len(reloads) > 0 {
		<-reloads
	}
	if err := atomicwriter.Write(dir, map[string][]byte{"authz/data.json": []byte(`{"v": 3}`)}); err != nil {
		t.Fatal(err)
	}
	waitReload(t, reloads, "a second ConfigMap update")
}
