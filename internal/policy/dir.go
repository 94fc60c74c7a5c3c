package policy

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// kubeletData is the link through which a folder mounted from a Kubernetes
// ConfigMap or Secret names its current version.
const kubeletData = "..data"

// resolveDir returns the folder that holds the current version of
// the policy folder dir. A folder mounted from a ConfigMap (the kubelet's
// atomic writer) keeps the real files in a hidden "..<timestamp>" folder
// reached through the "..data" link, and only symlinks at the top: OPA's
// loader skips symlinks and would load the hidden folder's data.json under
// data["..<timestamp>"]. Such a folder is read through "..data", resolved
// once per load, so a load never mixes two versions (the kubelet swaps
// "..data" atomically).
func resolveDir(dir string) (string, error) {
	target, err := filepath.EvalSymlinks(filepath.Join(dir, kubeletData))
	switch {
	case err == nil:
		return target, nil
	case errors.Is(err, fs.ErrNotExist):
		return dir, nil
	default:
		return "", fmt.Errorf("resolve %s: %w", kubeletData, err)
	}
}

// LoadDir is Load for the current version of the policy folder dir on
// disk (see resolveDir). A version holding a symlink is refused (see
// refuseLinks). The kubelet removes a version's folder right after
// swapping "..data", so a load that raced an update is tried again on the
// new version.
func LoadDir(dir string) (*Policy, error) {
	var err error
	for range 3 {
		var from string
		if from, err = resolveDir(dir); err != nil {
			return nil, err
		}
		var p *Policy
		fsys := os.DirFS(from)
		if err = refuseLinks(fsys); err == nil {
			p, err = Load(fsys)
		}
		if err == nil {
			return p, nil
		}
		if now, rerr := resolveDir(dir); rerr != nil || now == from {
			return nil, err
		}
	}
	return nil, err
}

// refuseLinks fails, naming the first one, when fsys holds a symlink.
// OPA's loader skips symlinks: a linked data.json or folder would be left
// out of the policy without a word, and a deny-list kept in one would fail
// open. Following links instead would read files the folder's watcher does
// not see (edits to a target outside would never apply), and a folder
// linked to its parent would loop; a refusal is one rule, the same at the
// start and on every reload. The folder itself may be a link, and the
// kubelet's ..data layout is read through its target, which holds real
// files.
//
// Emacs's lock files (.#name, a dangling link kept while a buffer is
// modified) are never part of a policy and are let be.
func refuseLinks(fsys fs.FS) error {
	return fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink == 0 || strings.HasPrefix(d.Name(), ".#") {
			return nil
		}
		return fmt.Errorf("%s is a symbolic link: links inside a policy folder are not followed; copy the file or folder in, or make the policy folder itself the link", name)
	})
}
