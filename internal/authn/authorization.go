package authn

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Token is a raw bearer token. It never prints itself: logging one by
// accident shows REDACTED instead of a credential.
type Token string

// LogValue implements slog.LogValuer.
func (Token) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// String implements fmt.Stringer.
func (Token) String() string { return "REDACTED" }

// Format implements fmt.Formatter: whatever the verb (%v, %#v, %q, %x,
// even a wrong one such as %d), fmt prints REDACTED.
func (Token) Format(f fmt.State, _ rune) { io.WriteString(f, "REDACTED") }

// ParseAuthorization extracts a bearer token from the values of the
// Authorization header (RFC 6750 section 2.1). No header or a blank one is
// ErrNoCredentials; anything else that is not exactly one "Bearer <token>"
// is ErrMalformedRequest. The scheme is case-insensitive.
func ParseAuthorization(values []string) (Token, error) {
	switch len(values) {
	case 0:
		return "", ErrNoCredentials
	case 1:
	default:
		return "", malformed("more than one Authorization header")
	}
	v := strings.Trim(values[0], " \t")
	if v == "" {
		return "", ErrNoCredentials
	}
	scheme, rest, found := strings.Cut(v, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		if len(scheme) > 6 && strings.EqualFold(scheme[:6], "Bearer") {
			return "", malformed("missing space after Bearer")
		}
		return "", malformed("authorization scheme must be Bearer")
	}
	if !found {
		return "", malformed("bearer token is missing")
	}
	token := strings.TrimLeft(rest, " ")
	if token == "" {
		return "", malformed("bearer token is missing")
	}
	if !isToken68(token) {
		return "", malformed("bearer token must be a single token68 value")
	}
	return Token(token), nil
}

// isToken68 reports whether s matches RFC 7235's token68 grammar:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isToken68(s string) bool {
	i := 0
	// Eight bytes a step with one branch: every request's token (often a
	// kilobyte) is scanned, and a branch per byte was most of the scan.
	// The byte loop below finds where a failing step stopped.
	for ; i+8 <= len(s); i += 8 {
		if token68Chars[s[i]]&token68Chars[s[i+1]]&token68Chars[s[i+2]]&token68Chars[s[i+3]]&
			token68Chars[s[i+4]]&token68Chars[s[i+5]]&token68Chars[s[i+6]]&token68Chars[s[i+7]] == 0 {
			break
		}
	}
	for i < len(s) && token68Chars[s[i]] != 0 {
		i++
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// token68Chars is the token68 alphabet without "=" (1 for a member): a
// table lookup per byte.
var token68Chars = func() (t [256]uint8) {
	for c := range 256 {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			t[c] = 1
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
			t[c] = 1
		}
	}
	return t
}()
