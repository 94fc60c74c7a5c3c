package imagetest

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/policygate/policygate/internal/testfile"
	"github.com/policygate/policygate/internal/testwait"
)

// reloadWait bounds the wait for a ConfigMap update to be activated.
const reloadWait = 20 * time.Second

// testKubernetesPod runs the image as the Deployment in deploy/kubernetes
// does: read-only root with /tmp from a tmpfs, health and readiness on
// ADMIN_ADDR, SHUTDOWN_DELAY, and the base's policy folder laid out as the
// kubelet lays out a ConfigMap volume. It then updates the ConfigMap the
// kubelet's way and wants the new version active.
func testKubernetesPod(t *testing.T, podman, image, policy string) {
	cm := newKubeletVolume(t, policy)
	admin := freeLoopbackAddr(t)
	args := []string{"--read-only", "--read-only-tmpfs=false", "--tmpfs", "/tmp",
		"--volume", cm.dir + ":/etc/policygate/policy:ro"}
	env := []string{"ADMIN_ADDR=" + admin, "SHUTDOWN_DELAY=1s", "LOG_FORMAT=json",
		"POLICY_DIR=/etc/policygate/policy", "POLICY_TESTS_MUST_PASS=true"}
	c := start(t, podman, image, "kubernetes_pod", args, env)
	c.admin = "http://" + admin

	first := c.waitReady(t)
	if got := first.Details.Policy; got.Source != "/etc/policygate/policy" || got.Activations != 1 {
		t.Errorf("/readyz policy = %+v, want source /etc/policygate/policy, 1 activation", got)
	}
	if code, _, err := get(c.url+"/readyz", ""); err != nil || code != http.StatusNotFound {
		t.Errorf("GET /readyz on the API port = %d %v, want 404 (it moved to ADMIN_ADDR)", code, err)
	}
	c.checkRoutes(t)

	cm.update(t, func(data string) {
		b, err := os.ReadFile(filepath.Join(data, "authz", "data.json"))
		if err != nil {
			t.Fatal(err)
		}
		edited := strings.Replace(string(b), `"routes": {`, `"routes": {"/api/extra": {"GET": {"access": "public"}},`, 1)
		if edited == string(b) {
			t.Fatal(`authz/data.json has no "routes": { to extend`)
		}
		testfile.Write(t, filepath.Join(data, "authz", "data.json"), edited)
	})
	var code int
	var body []byte
	var err error
	if !testwait.Until(reloadWait, func() bool {
		var r readiness
		code, body, err = get(c.admin+"/readyz", "")
		return err == nil && code == http.StatusOK && json.Unmarshal(body, &r) == nil &&
			r.Details.Policy.Activations == 2 && r.Details.Policy.Revision != first.Details.Policy.Revision
	}) {
		t.Fatalf("ConfigMap update not active after %v (last /readyz: %d %s %v)", reloadWait, code, body, err)
	}
	c.checkRoutes(t)
	c.stop(t)
}

// kubeletVolume is a folder laid out as the kubelet's atomic writer lays
// out a ConfigMap volume: the files in a "..<timestamp>" folder, a
// "..data" symlink to it, and each top-level entry a symlink through
// "..data".
type kubeletVolume struct {
	dir string
	n   int
}

func newKubeletVolume(t *testing.T, src string) *kubeletVolume {
	t.Helper()
	dir, err := os.MkdirTemp("", "policygate-configmap-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // the container's user 65532 reads it
		t.Fatal(err)
	}
	v := &kubeletVolume{dir: dir}
	data := v.next()
	copyTree(t, src, filepath.Join(dir, data))
	symlink(t, data, filepath.Join(dir, "..data"))
	entries, err := os.ReadDir(filepath.Join(dir, data))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		symlink(t, filepath.Join("..data", e.Name()), filepath.Join(dir, e.Name()))
	}
	return v
}

func (v *kubeletVolume) next() string {
	v.n++
	return fmt.Sprintf("..2026_01_01_00_00_%02d.%09d", v.n, v.n)
}

// update writes a new version as the kubelet does: a copy in a new
// timestamped folder, edited, then "..data_tmp" renamed over "..data", and
// the old folder removed. The top-level symlinks never change.
func (v *kubeletVolume) update(t *testing.T, edit func(data string)) {
	t.Helper()
	old, err := os.Readlink(filepath.Join(v.dir, "..data"))
	if err != nil {
		t.Fatal(err)
	}
	data := v.next()
	copyTree(t, filepath.Join(v.dir, old), filepath.Join(v.dir, data))
	edit(filepath.Join(v.dir, data))
	symlink(t, data, filepath.Join(v.dir, "..data_tmp"))
	if err := os.Rename(filepath.Join(v.dir, "..data_tmp"), filepath.Join(v.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(v.dir, old)); err != nil {
		t.Fatal(err)
	}
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatalf("copy %s to %s: %v", src, dst, err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}
