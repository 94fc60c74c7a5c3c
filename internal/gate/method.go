package gate

import (
	"bytes"
	"strings"
)

// maxMethodLen bounds a method name; the longest registered one
// (BASELINE-CONTROL) has 16 characters.
const maxMethodLen = 32

// ValidMethod reports whether m is an upper-case token (RFC 9110 section
// 9.1): methods are case-sensitive, and a framework that upper-cases
// "delete" would run a DELETE the policy decided as something else.
func ValidMethod(m string) bool {
	if len(m) > maxMethodLen || !IsToken(m) {
		return false
	}
	for i := 0; i < len(m); i++ {
		if 'a' <= m[i] && m[i] <= 'z' {
			return false
		}
	}
	return true
}

// IsToken reports whether s is an RFC 9110 token: one or more of ALPHA,
// DIGIT and !#$%&'*+-.^_`|~ (a method, an auth scheme, a header name).
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
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
// no face: docs/forward-auth.md says so. A "_method" query parameter is
// seen, and refused: QueryOverridesMethod.)
var MethodOverrideHeaders = [...]string{"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"}

// The descriptions of the two method-override refusals, the same on every
// face (the JSON bodies of one refusal are the same bytes everywhere).
const (
	DescribeOverrideHeader = "method-override headers are refused"
	DescribeOverrideQuery  = "a _method query parameter is refused"
)

// IsMethodOverride reports whether the header name is one of
// MethodOverrideHeaders, compared as CGI-style servers (Rack, PHP, WSGI)
// compare names: without case, and with "_" read as "-"
// (X_HTTP_Method_Override reaches them as HTTP_X_HTTP_METHOD_OVERRIDE).
func IsMethodOverride(name string) bool {
	return HeaderNameIn(name, MethodOverrideHeaders[:])
}

// HeaderNameIn reports whether name is one of names to a CGI-style server
// (SameHeaderName).
func HeaderNameIn(name string, names []string) bool {
	for _, n := range names {
		if SameHeaderName(name, n) {
			return true
		}
	}
	return false
}

// SameHeaderName reports whether two header names are one name to a
// CGI-style server: equal without case, with "_" and "-" alike.
func SameHeaderName(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if foldHeaderByte(a[i]) != foldHeaderByte(b[i]) {
			return false
		}
	}
	return true
}

func foldHeaderByte(c byte) byte {
	switch {
	case c == '_':
		return '-'
	case 'A' <= c && c <= 'Z':
		return c + 'a' - 'A'
	}
	return c
}

// QueryOverridesMethod reports whether a raw query string holds a
// parameter that a framework could read as "_method" (Laravel and
// Symfony read it from the query of a POST, and so does Express's
// method-override when told to). A name is read as PHP reads it: split
// on "&" (and ";", which PHP can be told to split on), percent-decoded
// leniently (a bad escape stays as written, "+" is a space), cut at a
// NUL byte, then renamed (leading spaces dropped, "." and " " read as
// "_", "[" starting an array or read as "_"), and compared without case.
// Every face that sees the query refuses such a request, whatever its
// method, as it refuses the override headers.
func QueryOverridesMethod(query string) bool {
	// Every spelling holds "_", or one of the characters that encode or
	// become it; "method" itself may be percent-encoded.
	if !strings.ContainsAny(query, "_%.+ [") {
		return false
	}
	for len(query) > 0 {
		param := query
		if i := strings.IndexAny(query, "&;"); i >= 0 {
			param, query = query[:i], query[i+1:]
		} else {
			query = ""
		}
		name, _, _ := strings.Cut(param, "=")
		if overridesMethod(decodeParamName(name)) {
			return true
		}
	}
	return false
}

// decodeParamName decodes a query parameter's name as PHP does: "+" is a
// space, a valid %XX its byte, anything else as written; the name ends at
// the first NUL byte.
func decodeParamName(name string) string {
	if !strings.ContainsAny(name, "%+") {
		return name
	}
	b := make([]byte, 0, len(name))
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c == '+':
			b = append(b, ' ')
		case c == '%' && i+2 < len(name) && isHex(name[i+1]) && isHex(name[i+2]):
			b = append(b, unhex(name[i+1])<<4|unhex(name[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// overridesMethod reports whether a decoded parameter name is "_method" as
// PHP names it: leading spaces dropped, "." " " "[" read as "_", and a
// name going on with "[" an array of that name.
func overridesMethod(name string) bool {
	const want = "_method"
	name = strings.TrimLeft(name, " ")
	if len(name) > len(want) && name[len(want)] == '[' {
		name = name[:len(want)]
	}
	if len(name) != len(want) {
		return false
	}
	for i := 0; i < len(want); i++ {
		c := name[i]
		switch {
		case c == '.' || c == ' ' || c == '[':
			c = '_'
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		if c != want[i] {
			return false
		}
	}
	return true
}
