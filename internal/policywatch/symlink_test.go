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

// linkedFolder makes parent/policies a symlink to a real folder
// parent/<target> holding authz/data.json, and returns the link.
func linkedFolder(t *testing.T, parent, target string) string {
	t.Helper()
	testfile.Write(t, filepath.Join(parent, target, "authz", "data.json"), `{"v": 1}`)
	link := filepath.Join(parent, "policies")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	return link
}

// swapLink points link at target in one step, as `ln -sfn` and
// deployment tools (git-sync, releases/current) do: a new link renamed
// over the old one.
func swapLink(t *testing.T, link, target string) {
	t.Helper()
	tmp := link + ".tmp"
	if err := os.Symlink(target, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, link); err != nil {
		t.Fatal(err)
	}
}

func noReload(t *testing.T, reloads <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-reloads:
		t.Fatalf("%s caused a reload", what)
	case <-time.After(2 * policywatch.MaxWait):
	}
}

func drain(reloads <-chan struct{}) {
	for len(reloads) > 0 {
		<-reloads
	}
}

// TestWatchSymlinkedFolder: a policy folder that is itself a symlink
// (POLICY_DIR=policies with policies -> real) is watched through the
// link: edits inside its target reload.
func TestWatchSymlinkedFolder(t *testing.T) {
	tests := []struct {
		name  string
		write string // relative to the link
	}{
		{name: "edit_in_subfolder", write: "authz/data.json"},
		{name: "edit_at_top_level", write: "extra.rego"},
		{name: "new_subfolder", write: "system/log/mask.rego"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			link := linkedFolder(t, t.TempDir(), "real")
			reloads := watch(t, link)
			testfile.Write(t, filepath.Join(link, filepath.FromSlash(tt.write)), `{"v": 2}`)
			waitReload(t, reloads, "writing "+tt.write+" through the symlinked folder")
		})
	}
}

// TestWatchSymlinkSwapped: pointing the link at another folder reloads,
// later edits in the new target reload, and the old target is no longer
// watched.
func TestWatchSymlinkSwapped(t *testing.T) {
	parent := t.TempDir()
	link := linkedFolder(t, parent, "v1")
	testfile.Write(t, filepath.Join(parent, "v2", "authz", "data.json"), `{"v": 2}`)
	reloads := watch(t, link)

	swapLink(t, link, "v2")
	waitReload(t, reloads, "swapping the link to v2")

	drain(reloads)
	testfile.Write(t, filepath.Join(parent, "v2", "authz", "data.json"), `{"v": 3}`)
	waitReload(t, reloads, "an edit in the new target")
	testfile.Write(t, filepath.Join(parent, "v2", "top.rego"), "package top")
	waitReload(t, reloads, "an edit at the top of the new target")

	drain(reloads)
	testfile.Write(t, filepath.Join(parent, "v1", "authz", "data.json"), `{"v": 4}`)
	noReload(t, reloads, "an edit in the old target")

	// And back: the first target is watched again.
	swapLink(t, link, "v1")
	waitReload(t, reloads, "swapping the link back to v1")
	drain(reloads)
	testfile.Write(t, filepath.Join(parent, "v1", "authz", "data.json"), `{"v": 5}`)
	waitReload(t, reloads, "an edit in v1 after swapping back")
}

// TestWatchSymlinkToConfigMap: a link to a folder mounted from a
// ConfigMap (a common indirection: /etc/policygate/policies -> the
// volume) sees the kubelet's updates.
func TestWatchSymlinkToConfigMap(t *testing.T) {
	parent := t.TempDir()
	mount := filepath.Join(parent, "volume")
	if err := atomicwriter.Write(mount, map[string][]byte{"authz/data.json": []byte(`{"v": 1}`)}); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(parent, "policies")
	if err := os.Symlink("volume", link); err != nil {
		t.Fatal(err)
	}
	reloads := watch(t, link)
	if err := atomicwriter.Write(mount, map[string][]byte{"authz/data.json": []byte(`{"v": 2}`)}); err != nil {
		t.Fatal(err)
	}
	waitReload(t, reloads, "a ConfigMap update behind the link")
}
