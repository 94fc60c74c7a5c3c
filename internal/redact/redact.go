package redact

import (
	"regexp"
	"strings"
)

// urlPattern finds an http(s) URL in free text: scheme, optional
// userinfo (up to the last "@" before the path, so a password may hold
// "@"), host and path, optional query, optional fragment. Quotes, spaces
// and angle brackets end a URL, as they do in Go's error messages. It may
// start inside a word ("x_https://..."): a word boundary would let such a
// URL keep its secrets.
var urlPattern = regexp.MustCompile(`(?i)(https?://)([^\s/?#"'<>]*@)?([^\s?#"'<>]*)(\?[^\s#"'<>]*)?(#[^\s"'<>]*)?`)

// URLs returns text with the userinfo, the query and the fragment of
// every http(s) URL in it replaced by "***": "https://u:p@idp/keys?sig=x"
// becomes "https://***@idp/keys?***". Scheme, host and path stay, so the
// text still says which URL failed.
func URLs(text string) string {
	return urlPattern.ReplaceAllStringFunc(text, func(u string) string {
		// Punctuation ending the match is the sentence's, as the ":" of
		// "fetch jwks https://idp/keys?sig=x: 500": kept, and not taken
		// for the query.
		trimmed := strings.TrimRight(u, ":;,.)")
		tail := u[len(trimmed):]
		m := urlPattern.FindStringSubmatch(trimmed)
		out := m[1]
		if m[2] != "" {
			out += "***@"
		}
		out += m[3]
		if m[4] != "" {
			out += "?***"
		}
		if m[5] != "" {
			out += "#***"
		}
		return out + tail
	})
}
