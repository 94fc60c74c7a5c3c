package gate

import "errors"

var errPathTrailing = errors.New("path has a trailing slash")

// SplitPath is Split with the default rules and a trailing "/" refused:
// the strictest form of the path rules, which TestSplitPath and
// FuzzSplitPath hold to. No face uses it; it lives here for those tests.
func SplitPath(escaped string) ([]string, error) {
	segs, err := PathRules{}.Split(escaped)
	if err == nil && len(segs) > 0 && segs[len(segs)-1] == "" {
		return nil, errPathTrailing
	}
	return segs, err
}
