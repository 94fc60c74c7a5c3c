package gate

import (
	"errors"
	"net/url"
	"strings"
)

// maxPathSegments bounds the work a hostile path can cause.
const maxPathSegments = 64

// SplitPath turns an escaped URL path into unescaped segments, the form
// the policy matches on ("/api/private" -> ["api", "private"], "/" -> []).
// It refuses what could make the policy see one path while the service
// behind it serves another: empty, "." and ".." segments, encoded slashes,
// bad escapes and control characters.
func SplitPath(escaped string) ([]string, error) {
	if !strings.HasPrefix(escaped, "/") {
		return nil, errors.New("path must start with /")
	}
	if escaped == "/" {
		return []string{}, nil
	}
	parts := strings.Split(escaped[1:], "/")
	if len(parts) > maxPathSegments {
		return nil, errors.New("path has too many segments")
	}
	for i, p := range parts {
		if p == "" {
			return nil, errors.New("path has an empty segment")
		}
		s, err := url.PathUnescape(p)
		if err != nil {
			return nil, errors.New("path has an invalid escape")
		}
		if s == "." || s == ".." {
			return nil, errors.New("path has a dot segment")
		}
		for j := 0; j < len(s); j++ {
			if c := s[j]; c == '/' || c == '\\' || c < 0x20 || c == 0x7f {
				return nil, errors.New("path segment has a slash or control character")
			}
		}
		parts[i] = s
	}
	return parts, nil
}
