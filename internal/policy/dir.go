package policy

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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
// disk (see resolveDir). The kubelet removes a version's folder right after
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
		p, err = Load(os.DirFS(from))
		if err == nil {
			return p, nil
		}
		if now, rerr := resolveDir(dir); rerr != nil || now == from {
			return nil, err
		}
	}
	return nil, err
}
