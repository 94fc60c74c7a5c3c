package policywatch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// maxLinks bounds the links followed while resolving one path, as the
// kernel does (a loop of links fails instead of spinning).
const maxLinks = 40

// resolve follows every symlink on the absolute, clean path, as
// filepath.EvalSymlinks does, and also returns the names whose change
// would make path lead elsewhere: each link met on the way and, when the
// path does not lead anywhere (yet), the missing entry. Each name is its
// folder resolved plus its own name, which is how a watch on that folder
// names its events. tree is "" when path does not lead to a folder.
func resolve(path string) (tree string, names []string, err error) {
	vol := filepath.VolumeName(path)
	done := vol + string(filepath.Separator)
	rest := split(path[len(vol):])
	for links := 0; len(rest) > 0; {
		name := rest[0]
		rest = rest[1:]
		next := filepath.Join(done, name)
		if name == ".." {
			done = next // done has no links left: its parent is the real one
			continue
		}
		fi, err := os.Lstat(next)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				names = append(names, next)
			}
			return "", names, err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			done = next
			continue
		}
		if links++; links > maxLinks {
			return "", names, fmt.Errorf("resolve %s: too many links", path)
		}
		names = append(names, next)
		target, err := os.Readlink(next)
		if err != nil {
			return "", names, err
		}
		if filepath.IsAbs(target) {
			v := filepath.VolumeName(target)
			done, target = v+string(filepath.Separator), target[len(v):]
		}
		rest = append(split(target), rest...)
	}
	if fi, err := os.Stat(done); err != nil || !fi.IsDir() {
		return "", names, fmt.Errorf("watch %s: not a folder", path)
	}
	return done, names, nil
}

// split returns the names of a path, without empty ones and ".".
func split(path string) []string {
	var names []string
	for _, n := range strings.Split(filepath.ToSlash(path), "/") {
		if n != "" && n != "." {
			names = append(names, n)
		}
	}
	return names
}
