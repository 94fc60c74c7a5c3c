package policywatch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
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
// A folder reached through symlinks (policies -> releases/v2, git-sync's
// /git/repo link above /git/repo/policies) is watched where the links
// lead, and each link's own folder for the link itself: pointing a link
// elsewhere is a change, after which the new target is watched and the
// old one no longer is.
type Watcher struct {
	fs     *fsnotify.Watcher
	logger *slog.Logger
	roots  []root
}

// root is one watched folder.
type root struct {
	link  string   // as given, absolute and cleaned
	tree  string   // where link leads now, every link resolved; "" while nowhere
	names []string // link and the names that decide where it leads (resolve)
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
			err = w.track(&r)
		}
		if err != nil {
			fw.Close()
			return nil, fmt.Errorf("watch policy %s: %w", dir, err)
		}
		w.roots = append(w.roots, r)
	}
	return w, nil
}

// track resolves r.link and watches where it leads (again: a folder
// deleted and created under the same name is a new folder to the kernel)
// and the folders of the names that decide it.
func (w *Watcher) track(r *root) error {
	tree, names, err := resolve(r.link)
	r.tree, r.names = tree, append(names, r.link)
	for _, name := range r.names {
		if aerr := w.fs.Add(filepath.Dir(name)); aerr != nil && err == nil {
			err = aerr
		}
	}
	if tree != "" {
		if terr := w.addTree(tree); terr != nil && err == nil {
			err = terr
		}
	}
	return err
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

// retrack follows again every watched folder whose way depends on the
// name path (a link pointed elsewhere, a folder created or removed), and
// reports whether there was one. Folders no longer needed are no longer
// watched.
func (w *Watcher) retrack(path string) bool {
	found := false
	for i := range w.roots {
		r := &w.roots[i]
		if !slices.Contains(r.names, path) {
			continue
		}
		found = true
		if err := w.track(r); err != nil {
			// Gone or dangling for now: the names that would bring it
			// back are watched.
			w.logger.Debug("policy folder not watchable", "path", r.link, "err", err.Error())
		}
	}
	if found {
		w.prune()
	}
	return found
}

// prune stops watching folders no root needs any longer. The kernel drops
// the watches of deleted folders itself.
func (w *Watcher) prune() {
	for _, p := range w.fs.WatchList() {
		if !w.inTree(p) && !w.isParent(p) {
			w.fs.Remove(p)
		}
	}
}

// isParent reports whether path is the folder of a name that decides
// where a watched folder leads.
func (w *Watcher) isParent(path string) bool {
	for _, r := range w.roots {
		for _, name := range r.names {
			if filepath.Dir(name) == path {
				return true
			}
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
			if w.retrack(ev.Name) {
				// The folder itself, or a link on its way, was created,
				// removed or pointed elsewhere.
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
			// An overflow means lost events (a link swap among them,
			// perhaps): follow every folder again and reload to be sure.
			w.logger.Warn("policy watch", "err", err.Error())
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				for _, r := range w.roots {
					w.retrack(r.link)
				}
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
