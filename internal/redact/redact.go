package redact

import "regexp"

// urlPattern finds an http(s) URL in free text: scheme, optional
// userinfo, host and path, optional query. Quotes, spaces and angle
// brackets end a URL, as they do in Go's error messages.
var urlPattern = regexp.MustCompile(`(?i)\b(https?://)([^\s/?#"'<>@]*@)?([^\s?#"'<>]*)(\?[^\s#"'<>]*)?`)

// URLs returns text with the userinfo and the query of every http(s) URL
// in it replaced by "***": "https://u:p@idp/keys?sig=x" becomes
// "https://***@idp/keys?***". Scheme, host and path stay, so the text
// still says which URL failed.
func URLs(text string) string {
	return urlPattern.ReplaceAllStringFunc(text, func(u string) string {
		m := urlPattern.FindStringSubmatch(u)
		out := m[1]
		if m[2] != "" {
			out += "***@"
		}
		out += m[3]
		if m[4] != "" {
			out += "?***"
		}
		return out
	})
}
