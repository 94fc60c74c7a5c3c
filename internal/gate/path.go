package gate

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// maxPathSegments bounds the work a hostile path can cause.
const maxPathSegments = 64

// PathRules are the path rules of docs/design.md section 2, with the two
// relaxations some upstreams need. The zero value is the strict default.
type PathRules struct {
	// AllowSemicolon accepts ";" raw or as %3B (PATH_ALLOW_SEMICOLON): only
	// for upstreams that do not treat ";" as a parameter separator.
	AllowSemicolon bool
	// AllowPercent25 accepts %25, an encoded "%" (PATH_ALLOW_PERCENT25):
	// only for upstreams that decode a path once.
	AllowPercent25 bool
}

// Path errors. Each says what is wrong, never echoes the path.
var (
	errPathStart     = errors.New("path must start with /")
	errPathSegments  = errors.New("path has too many segments")
	errPathEmpty     = errors.New("path has an empty segment")
	errPathDot       = errors.New("path has a dot segment")
	errPathEscape    = errors.New("path has an invalid escape")
	errPathSlash     = errors.New("path segment has an encoded slash or backslash")
	errPathControl   = errors.New("path has a control character")
	errPathUTF8      = errors.New("path segment is not valid UTF-8")
	errPathSemicolon = errors.New("path has a semicolon")
	errPathPercent25 = errors.New("path has an encoded percent sign (%25)")
	errPathDelimiter = errors.New("path segment has an encoded ? or #")
	errPathChar      = errors.New("path has a character that must be encoded")
)

// Split turns an escaped URL path (no query) into unescaped segments, the
// form the policy matches on: "/api/private" -> ["api", "private"], "/" ->
// [], and a trailing "/" is kept as a final empty segment ("/orders/42/"
// -> ["orders", "42", ""], matched by the key "/orders/{id}/").
//
// It refuses, rather than normalises, whatever could make the policy see
// one path while a proxy or the service behind it serves another: empty
// segments (but that final one), "." and "..", encoded "/" or "\", bad
// escapes, control characters, segments that are not UTF-8 once decoded,
// ";" raw or encoded (servlet containers strip ";params" and then
// normalise: /public/..;/admin), %25 (an upstream decoding twice reads
// /%2561dmin as /admin), and %3F or %23 inside a segment.
func (r PathRules) Split(escaped string) ([]string, error) {
	if !strings.HasPrefix(escaped, "/") {
		return nil, errPathStart
	}
	if escaped == "/" {
		return []string{}, nil
	}
	n := strings.Count(escaped, "/")
	if n > maxPathSegments {
		return nil, errPathSegments
	}
	segs := make([]string, 0, n)
	rest := escaped[1:]
	for i := 0; i < n; i++ {
		raw, tail, more := strings.Cut(rest, "/")
		rest = tail
		if raw == "" {
			if more {
				return nil, errPathEmpty
			}
			segs = append(segs, "") // the one final empty segment
			continue
		}
		s, err := r.segment(raw)
		if err != nil {
			return nil, err
		}
		segs = append(segs, s)
	}
	return segs, nil
}

// segment checks and unescapes one non-empty raw segment.
func (r PathRules) segment(raw string) (string, error) {
	plain := true
	for j := 0; j < len(raw); j++ {
		switch c := raw[j]; {
		case c < 0x20 || c == 0x7f:
			return "", errPathControl
		case c == '\\':
			return "", errPathSlash
		case c == '?' || c == '#' || c == ' ':
			return "", errPathChar
		case c == ';' && !r.AllowSemicolon:
			return "", errPathSemicolon
		case c == '%':
			plain = false
		}
	}
	s := raw
	if !plain {
		var b strings.Builder
		b.Grow(len(raw))
		for j := 0; j < len(raw); j++ {
			c := raw[j]
			if c != '%' {
				b.WriteByte(c)
				continue
			}
			if j+2 >= len(raw) || !isHex(raw[j+1]) || !isHex(raw[j+2]) {
				return "", errPathEscape
			}
			d := unhex(raw[j+1])<<4 | unhex(raw[j+2])
			j += 2
			switch {
			case d == '/' || d == '\\':
				return "", errPathSlash
			case d == '%' && !r.AllowPercent25:
				return "", errPathPercent25
			case d == ';' && !r.AllowSemicolon:
				return "", errPathSemicolon
			case d == '?' || d == '#':
				return "", errPathDelimiter
			case d < 0x20 || d == 0x7f:
				return "", errPathControl
			}
			b.WriteByte(d)
		}
		s = b.String()
	}
	if s == "." || s == ".." {
		return "", errPathDot
	}
	if !utf8.ValidString(s) {
		return "", errPathUTF8
	}
	return s, nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// SplitTarget splits a request target (path and query, as in a request
// line or X-Forwarded-Uri) into its escaped path and its query. The query
// is never part of what the policy matches.
func SplitTarget(target string) (path, query string) {
	path, query, _ = strings.Cut(target, "?")
	return path, query
}
