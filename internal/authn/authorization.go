package authn

import (
	"log/slog"
	"strings"
)

// Token is a raw bearer token. It never prints itself: logging one by
// accident shows REDACTED instead of a credential.
type Token string

// LogValue implements slog.LogValuer.
func (Token) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// String implements fmt.Stringer so %v and %s never print the token either.
func (Token) String() string { return "REDACTED" }

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
	for i < len(s) && token68Chars[s[i]] {
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

// token68Chars is the token68 alphabet without "=": a table lookup per
// byte, since every request's token (often 1 KB) is scanned.
var token68Chars = func() (t [256]bool) {
	for c := range 256 {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			t[c] = true
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
			t[c] = true
		}
	}
	return t
}()
