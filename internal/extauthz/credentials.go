package extauthz

import (
	"strings"

	"github.com/policygate/policygate/internal/gate"
)

// joinedCredentials splits an authorization value into the header values Envoy
// joined it from: Envoy joins repeated headers with ",", and two
// credentials are a malformed request. A comma inside one credential
// (Digest's parameters, a stray comma after a token) does not start a
// second header, so such a value stays whole and is refused for what it
// is, with the HTTP faces' description. No Bearer credential holds a
// comma: either way a value with one is refused.
func joinedCredentials(value string) []string {
	if !strings.Contains(value, ",") {
		return []string{value}
	}
	parts := strings.Split(value, ",")
	for _, p := range parts[1:] {
		if !startsCredential(p) {
			return []string{value}
		}
	}
	return parts
}

// startsCredential reports whether s, after leading whitespace, begins as
// a header value holding a credential does: an auth scheme (an RFC 9110
// token) and a space.
func startsCredential(s string) bool {
	scheme, _, found := strings.Cut(strings.TrimLeft(s, " \t"), " ")
	return found && gate.IsToken(scheme)
}
