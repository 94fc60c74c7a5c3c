package gate_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/policygate/policygate/internal/gate"
)

// FuzzSplitPath checks that the path splitter never panics and that what it
// accepts is exactly what the policy may safely match on: one segment per
// raw "/", none empty, "." or "..", none holding a slash, backslash or
// control character, at most 64 of them, and the same segments again when
// they are escaped and split once more.
func FuzzSplitPath(f *testing.F) {
	for _, seed := range []string{
		"/", "", "api", "/api/private", "/api/private-scoped", "/api/caf%C3%A9",
		"/api//private", "/api/private/", "/api/./x", "/api/../admin", "/api/%2e%2E/admin",
		"/api/a%2Fb", "/api/a%2fb", "/api/a%5Cb", "/api/%00", "/api/%zz", "/api/%",
		"/api/%25", "/api/%7f", "/api/a%20b", "/api/\x00", "//", "/%2F", "/.%2e",
		"/" + strings.Repeat("a/", 63) + "a", "/" + strings.Repeat("a/", 64) + "a",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, escaped string) {
		segs, err := gate.SplitPath(escaped)
		if err != nil {
			if segs != nil {
				t.Fatalf("SplitPath(%q) = %q with error %v", escaped, segs, err)
			}
			if err.Error() == "" {
				t.Fatalf("SplitPath(%q): empty error message", escaped)
			}
			return
		}
		if !strings.HasPrefix(escaped, "/") {
			t.Fatalf("SplitPath(%q) = %q: accepted a path not starting with /", escaped, segs)
		}
		if escaped == "/" {
			if segs == nil || len(segs) != 0 {
				t.Fatalf(`SplitPath("/") = %#v, want []string{}`, segs)
			}
			return
		}
		if len(segs) != strings.Count(escaped, "/") || len(segs) > 64 {
			t.Fatalf("SplitPath(%q) = %d segments, want one per raw slash, at most 64", escaped, len(segs))
		}
		for _, s := range segs {
			if s == "" || s == "." || s == ".." {
				t.Fatalf("SplitPath(%q) = %q: empty or dot segment", escaped, segs)
			}
			for i := 0; i < len(s); i++ {
				if c := s[i]; c == '/' || c == '\\' || c < 0x20 || c == 0x7f {
					t.Fatalf("SplitPath(%q) = %q: segment %q holds byte %#x", escaped, segs, s, c)
				}
			}
		}
		var b strings.Builder
		for _, s := range segs {
			b.WriteByte('/')
			b.WriteString(url.PathEscape(s))
		}
		again, err := gate.SplitPath(b.String())
		if err != nil || !slices.Equal(again, segs) {
			t.Fatalf("SplitPath(%q) = %q, but SplitPath(%q) = %q, %v", escaped, segs, b.String(), again, err)
		}
	})
}

// FuzzPathRules checks the face rules (a final empty segment allowed, the
// relaxations off or on): never a panic; what is accepted has one segment
// per raw "/", only the last may be empty, none is "." or "..", none holds
// a slash, backslash, control character, "?", "#" or invalid UTF-8, ";"
// and "%" only when allowed; escaping and splitting again gives the same.
func FuzzPathRules(f *testing.F) {
	for _, seed := range []string{
		"/", "/orders/42/", "/orders//", "/public/..;/admin", "/a%3Bb", "/%2561dmin",
		"/a%3Fb", "/a%23b", "/a#b", "/api/%C3", "/api/caf%C3%A9", "/a;b", "/%25", "//",
	} {
		f.Add(seed, false, false)
		f.Add(seed, true, true)
	}
	f.Fuzz(func(t *testing.T, escaped string, semicolon, percent bool) {
		rules := gate.PathRules{AllowSemicolon: semicolon, AllowPercent25: percent}
		segs, err := rules.Split(escaped)
		if err != nil {
			if segs != nil || err.Error() == "" {
				t.Fatalf("Split(%q) = %q, %v", escaped, segs, err)
			}
			return
		}
		if escaped == "/" {
			if len(segs) != 0 {
				t.Fatalf(`Split("/") = %q, want []`, segs)
			}
			return
		}
		if len(segs) != strings.Count(escaped, "/") || len(segs) > 64 {
			t.Fatalf("Split(%q) = %d segments, want one per raw slash", escaped, len(segs))
		}
		for i, s := range segs {
			if s == "" && i != len(segs)-1 || s == "." || s == ".." || !utf8.ValidString(s) {
				t.Fatalf("Split(%q) = %q: bad segment %q", escaped, segs, s)
			}
			if strings.ContainsAny(s, "/\\?#") || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) ||
				!semicolon && strings.Contains(s, ";") || !percent && strings.Contains(s, "%") {
				t.Fatalf("Split(%q) = %q: segment %q holds a refused character", escaped, segs, s)
			}
		}
		var b strings.Builder
		for _, s := range segs {
			b.WriteByte('/')
			b.WriteString(url.PathEscape(s))
		}
		again, err := rules.Split(b.String())
		if err != nil || !slices.Equal(again, segs) {
			t.Fatalf("Split(%q) = %q, but Split(%q) = %q, %v", escaped, segs, b.String(), again, err)
		}
	})
}

// FuzzNormalizeHost: never a panic; an accepted host is lower-case ASCII
// without a port or trailing dot, and normalising it again changes nothing.
func FuzzNormalizeHost(f *testing.F) {
	for _, seed := range []string{"api.example.com", "API.example.com:8443", "[::1]:80", "[fe80::1%25eth0]",
		"a.example.", "exämple.com", "a:1:2", "[::ffff:127.0.0.1]", "", ":80", "[", "a..b"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, h string) {
		n, err := gate.NormalizeHost(h)
		if err != nil {
			if n != "" {
				t.Fatalf("NormalizeHost(%q) = %q with error %v", h, n, err)
			}
			return
		}
		if n == "" || strings.HasSuffix(n, ".") || n != strings.ToLower(n) || strings.ContainsFunc(n, func(r rune) bool { return r >= 0x80 }) {
			t.Fatalf("NormalizeHost(%q) = %q", h, n)
		}
		if !strings.HasPrefix(n, "[") && strings.Contains(n, ":") {
			t.Fatalf("NormalizeHost(%q) = %q keeps a port", h, n)
		}
		if again, err := gate.NormalizeHost(n); err != nil || again != n {
			t.Fatalf("NormalizeHost(%q) = %q, but NormalizeHost(%q) = %q, %v", h, n, n, again, err)
		}
	})
}

// FuzzQueryOverridesMethod checks that the query check never panics, that
// a _method parameter is found wherever it sits among other parameters,
// and that a name PHP ends at NUL is still found, however its tail is
// spelt.
func FuzzQueryOverridesMethod(f *testing.F) {
	for _, seed := range []string{"", "a=1", "_method=DELETE", "%zz", "a%00b", "x;y&z", "_method%00", "%5Fmethod", "[", "+."} {
		f.Add(seed, seed)
	}
	f.Fuzz(func(t *testing.T, before, tail string) {
		gate.QueryOverridesMethod(before)
		gate.QueryOverridesMethod(tail)
		for _, q := range []string{
			before + "&_method=DELETE",
			"_method=DELETE&" + before,
			before + "&_method%00" + url.QueryEscape(tail) + "=DELETE",
		} {
			if !gate.QueryOverridesMethod(q) {
				t.Errorf("QueryOverridesMethod(%q) = false, want true", q)
			}
		}
	})
}
