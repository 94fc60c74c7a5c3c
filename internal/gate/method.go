package gate

import "strings"

// maxMethodLen bounds a method name; the longest registered one
// (BASELINE-CONTROL) has 16 characters.
const maxMethodLen = 32

// ValidMethod reports whether m is an upper-case token (RFC 9110 section
// 9.1): methods are case-sensitive, and a framework that upper-cases
// "delete" would run a DELETE the policy decided as something else.
func ValidMethod(m string) bool {
	if m == "" || len(m) > maxMethodLen {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		switch {
		case 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// MethodOverrideHeaders are the headers with which frameworks let a client
// replace the method: a decided POST must not become a DELETE upstream, so
// a request carrying any of them is refused wherever a face sees them.
// (A "_method" body field, which Rails and Laravel also honour, is seen by
// no face: docs/forward-auth.md says so.)
var MethodOverrideHeaders = [...]string{"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"}

// IsMethodOverride reports whether the header name (any case) is one of
// MethodOverrideHeaders.
func IsMethodOverride(name string) bool {
	for _, h := range MethodOverrideHeaders {
		if strings.EqualFold(name, h) {
			return true
		}
	}
	return false
}
