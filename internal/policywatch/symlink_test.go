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

// TestWatchLinkOnThePath: the link that changes may be further up the
// path or further down the chain than the policy folder's own name:
// git-sync swaps /git/repo while POLICY_DIR is /git/repo/policies, and a
// release layout swaps current while policies -> current. Each swap
// reloads, and edits in the new target reload.
func TestWatchLinkOnThePath(t *testing.T) {
	tests := []struct {
		name  string
		links map[string]string // link -> target, under the parent (which holds wt1/ and wt2/)
		dir   string            // the watched folder, under the parent
		swap  string            // the link then pointed at to
		to    string
	}{
		{name: "git_sync_repo_link", links: map[string]string{"repo": "wt1"}, dir: "repo/policies", swap: "repo", to: "wt2"},
		{name: "chain_of_links", links: map[string]string{"policies": "current", "current": "wt1/policies"}, dir: "policies", swap: "current", to: "wt2/policies"},
		{name: "link_in_a_link_target", links: map[string]string{"policies": "current/policies", "current": "wt1"}, dir: "policies", swap: "current", to: "wt2"},
		{name: "chain_below_a_parent_link", links: map[string]string{"srv": "data", "data/policies": "../wt1/policies"}, dir: "srv/policies", swap: "data/policies", to: "../wt2/policies"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			testfile.Write(t, filepath.Join(parent, "wt1", "policies", "authz", "data.json"), `{"v": 1}`)
			testfile.Write(t, filepath.Join(parent, "wt2", "policies", "authz", "data.json"), `{"v": 2}`)
			if err := os.Mkdir(filepath.Join(parent, "data"), 0o755); err != nil {
				t.Fatal(err)
			}
			for link, target := range tt.links {
				if err := os.Symlink(filepath.FromSlash(target), filepath.Join(parent, filepath.FromSlash(link))); err != nil {
					t.Fatal(err)
				}
			}
			dir := filepath.Join(parent, filepath.FromSlash(tt.dir))
			data := filepath.Join(dir, "authz", "data.json")
			if got, err := os.ReadFile(data); err != nil || string(got) != `{"v": 1}` {
				t.Fatalf("layout: %s reads %q, %v; want the first version", data, got, err)
			}
			reloads := watch(t, dir)

			swapLink(t, filepath.Join(parent, filepath.FromSlash(tt.swap)), filepath.FromSlash(tt.to))
			waitReload(t, reloads, "swapping "+tt.swap)
			if got, err := os.ReadFile(data); err != nil || string(got) != `{"v": 2}` {
				t.Fatalf("after the swap %s reads %q, %v; want the second version", data, got, err)
			}
			drain(reloads)
			testfile.Write(t, data, `{"v": 3}`)
			waitReload(t, reloads, "an edit in the new target")
		})
	}
}
