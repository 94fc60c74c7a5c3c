package gate_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"

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
