package policywatch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Timing of a reload after changes: once the tree has been quiet for
// Quiet, and at the latest MaxWait after the first change of a burst, so
// a file rewritten in a loop cannot postpone reloads forever.
const (
	Quiet   = 200 * time.Millisecond
	MaxWait = time.Second
)

// Watcher watches folder trees, including folders created later. It
// also watches each tree's parent folder, for the tree itself only: a
// tree that is deleted and created again (rm -r; cp -r) is watched again.
//
// A folder given as a symlink (policies -> releases/v2) is watched where
// the link points, and the link's parent for the link itself: pointing
// the link elsewhere is a change, after which the new target is watched
// and the old one no longer is.
type Watcher struct {
	fs     *fsnotify.Watcher
	logger *slog.Logger
	roots  []root
}

// root is one watched folder.
type root struct {
	link string // as given, absolute and cleaned; its parent is watched
	tree string // link with every symlink resolved; "" while it does not exist
}

// New starts watching dirs; changes made after New returns are seen.
func New(dirs []string, logger *slog.Logger) (*Watcher, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch policy: %w", err)
	}
	w := &Watcher{fs: fw, logger: logger}
	for _, dir := range dirs {
		var r root
		r.link, err = filepath.Abs(dir)
		if err == nil {
			r.tree, err = filepath.EvalSymlinks(r.link)
		}
		if err == nil {
			err = w.addTree(r.tree)
		}
		if err == nil {
			err = fw.Add(filepath.Dir(r.link))
		}
		if err != nil {
			fw.Close()
			return nil, fmt.Errorf("watch policy %s: %w", dir, err)
		}
		w.roots = append(w.roots, r)
	}
	return w, nil
}

// within reports whether path is dir or lies in it.
func within(path, dir string) bool {
	return dir != "" && (path == dir || strings.HasPrefix(path, dir+string(filepath.Separator)))
}

// inTree reports whether path is a watched tree or lies in one; events on
// the trees' siblings (seen through the parent watches) are not.
func (w *Watcher) inTree(path string) bool {
	for _, r := range w.roots {
		if within(path, r.tree) {
			return true
		}
	}
	return false
}

// isLink reports whether path names a watched folder as given (the link,
// or the folder itself when it is no link), seen through its parent.
func (w *Watcher) isLink(path string) bool {
	for _, r := range w.roots {
		if path == r.link {
			return true
		}
	}
	return false
}

// resolve follows every watched folder named path to where it points now
// and watches that tree (again: a folder deleted and created under the
// same name is a new folder to the kernel). A tree no root points to any
// longer is no longer watched.
func (w *Watcher) resolve(path string) {
	var old []string
	for i := range w.roots {
		r := &w.roots[i]
		if r.link != path {
			continue
		}
		tree, err := filepath.EvalSymlinks(r.link)
		if err != nil {
			tree = "" // gone, or a dangling link: its creation resolves it again
		}
		if r.tree != tree {
			old = append(old, r.tree)
		}
		r.tree = tree
		if tree == "" {
			continue
		}
		if err := w.addTree(tree); err != nil {
			w.logger.Warn("cannot watch policy folder", "path", path, "target", tree, "err", err.Error())
		}
	}
	for _, tree := range old {
		w.unwatch(tree)
	}
}

// unwatch stops watching the folders of tree that no root needs.
func (w *Watcher) unwatch(tree string) {
	if tree == "" {
		return
	}
	for _, p := range w.fs.WatchList() {
		if within(p, tree) && !w.inTree(p) && !w.isParent(p) {
			// The kernel drops the watches of deleted folders itself.
			w.fs.Remove(p)
		}
	}
}

// isParent reports whether path is the parent folder of a watched folder.
func (w *Watcher) isParent(path string) bool {
	for _, r := range w.roots {
		if filepath.Dir(r.link) == path {
			return true
		}
	}
	return false
}

func (w *Watcher) addTree(root string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return w.fs.Add(path)
		}
		return nil
	})
}

// Close stops watching; Run does it when its context ends.
func (w *Watcher) Close() error { return w.fs.Close() }

// Run calls reload after changes (see Quiet and MaxWait) until ctx ends,
// then stops watching. Reloads run one at a time, on Run's goroutine.
func (w *Watcher) Run(ctx context.Context, reload func(context.Context)) {
	defer w.fs.Close()
	timer := time.NewTimer(0)
	if !timer.Stop() {
		<-timer.C
	}
	var first time.Time // first change of the pending burst; zero if none
	changed := func() {
		now := time.Now()
		if first.IsZero() {
			first = now
		}
		timer.Reset(min(Quiet, first.Add(MaxWait).Sub(now)))
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.fs.Events:
			if !ok {
				return
			}
			if w.isLink(ev.Name) {
				// The folder itself was created, removed or (a link)
				// pointed elsewhere.
				w.resolve(ev.Name)
				changed()
				continue
			}
			if !w.inTree(ev.Name) {
				continue
			}
			if ev.Has(fsnotify.Create) {
				if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() {
					if err := w.addTree(ev.Name); err != nil {
						w.logger.Warn("cannot watch new policy folder", "path", ev.Name, "err", err.Error())
					}
				}
			}
			if w.relevant(ev.Name) {
				changed()
			}
		case err, ok := <-w.fs.Errors:
			if !ok {
				return
			}
			// An overflow means lost events: reload to be sure.
			w.logger.Warn("policy watch", "err", err.Error())
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				changed()
			}
		case <-timer.C:
			first = time.Time{}
			reload(ctx)
		}
	}
}

// relevant filters out editors' swap and backup files; anything else
// (policy files, data, folders) may change the policy. A reload of an
// unchanged policy is a cheap no-op, so erring on this side is fine.
//
// A folder mounted from a Kubernetes ConfigMap changes through hidden
// names only: the kubelet writes a new "..<timestamp>" folder, then
// renames a "..data_tmp" link over "..data". The rename is the change;
// writes inside the hidden folders happen before it and are ignored.
func (w *Watcher) relevant(path string) bool {
	name := filepath.Base(path)
	switch {
	case name == ".manifest", name == kubeletData:
		return true
	case strings.HasPrefix(name, "."), strings.HasSuffix(name, "~"), name == "4913":
		return false
	}
	for _, r := range w.roots {
		if r.tree == "" {
			continue
		}
		if rel, err := filepath.Rel(r.tree, path); err == nil && strings.HasPrefix(rel, "..") && filepath.IsLocal(rel) {
			return false // inside a kubelet "..<timestamp>" folder
		}
	}
	return true
}

// kubeletData is the link through which a ConfigMap volume names its
// current version.
const kubeletData = "..data"
