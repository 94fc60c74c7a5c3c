package atomicwriter

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Data names the symlink to the current version, as the kubelet does.
const Data = "..data"

// Write makes files (slash-separated paths relative to dir, e.g.
// "authz/data.json") the content of dir in one atomic step, in the
// kubelet's layout. dir is created if needed; a previous version written
// by Write is replaced, and its timestamp folder removed.
func Write(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, err := os.Readlink(filepath.Join(dir, Data))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	// The kubelet's name: "..2006_01_02_15_04_05." and a random suffix.
	ts, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return err
	}
	if err := os.Chmod(ts, 0o755); err != nil {
		return err
	}
	top := map[string]bool{}
	for name, content := range files {
		if !filepath.IsLocal(name) || strings.HasPrefix(name, "..") {
			return fmt.Errorf("atomicwriter: bad path %q", name)
		}
		p := filepath.Join(ts, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, content, 0o644); err != nil {
			return err
		}
		top[strings.SplitN(name, "/", 2)[0]] = true
	}
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, Data)); err != nil {
		return err
	}
	// Top-level links: add the new ones, drop those no longer in the payload.
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..") || top[e.Name()] {
			continue
		}
		if e.Type()&os.ModeSymlink != 0 {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	for name := range top {
		link := filepath.Join(dir, name)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join(Data, name), link); err != nil {
			return err
		}
	}
	if old != "" {
		return os.RemoveAll(filepath.Join(dir, old))
	}
	return nil
}
