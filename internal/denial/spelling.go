package denial

import (
	"strings"

	"github.com/policygate/policygate/internal/gate"
)

// CGI-style servers (Rack and Puma, PHP, many WSGI setups) read a header
// name upper-cased with "-" turned into "_", so X-Auth-Subject,
// x_auth_subject and x-auth_subject all reach the application as
// HTTP_X_AUTH_SUBJECT. Envoy passes names with "_" by default
// (headers_with_underscores_action: ALLOW), and removing or overwriting
// the "-" spelling leaves the others in place: a client's x_auth_subject
// could then stand in for the identity the gate removed. Every face
// therefore removes the identity family in every spelling.

// IdentityFamily reports whether a header name, compared without case and
// with "_" read as "-", is X-Auth-* (longer than the prefix) or
// X-Decision-Id: the names only policygate may send an upstream. It is
// the rule proxy mode strips client headers by.
func IdentityFamily(name string) bool {
	const prefix, decision = "x-auth-", "x-decision-id"
	return len(name) > len(prefix) && gate.SameHeaderName(name[:len(prefix)], prefix) ||
		len(name) == len(decision) && gate.SameHeaderName(name, decision)
}

// UnderscoreIdentity reports whether name is in the identity family but
// spelt with at least one "_": a name that removing or overwriting the
// "-" spelling leaves in place. It allocates nothing and rejects a name
// without "_" at the cost of one byte search.
func UnderscoreIdentity(name string) bool {
	return strings.IndexByte(name, '_') >= 0 && IdentityFamily(name)
}

// MaxSpellingSeparators bounds UnderscoreSpellings: a name with more "-"
// than this has 2^n-1 spellings, and only its all-"_" one is listed.
const MaxSpellingSeparators = 6

// AppendUnderscoreSpellings appends to dst, in lower case, every spelling
// of name with at least one of its "-" written "_" (x_auth_subject,
// x_auth-subject, x-auth_subject for X-Auth-Subject), the all-"_" one
// first. For a name with more than MaxSpellingSeparators "-" only the
// all-"_" spelling is appended.
func AppendUnderscoreSpellings(dst []string, name string) []string {
	lower := strings.ToLower(name)
	var dashes []int
	for i := 0; i < len(lower); i++ {
		if lower[i] == '-' {
			dashes = append(dashes, i)
		}
	}
	if len(dashes) == 0 {
		return dst
	}
	all := strings.ReplaceAll(lower, "-", "_")
	dst = append(dst, all)
	if len(dashes) > MaxSpellingSeparators {
		return dst
	}
	// Bit i of mask set: the i-th "-" is written "_". The full mask is
	// the all-"_" spelling, already appended; 0 is the name itself.
	b := []byte(lower)
	for mask := (1 << len(dashes)) - 2; mask > 0; mask-- {
		for i, at := range dashes {
			if mask&(1<<i) != 0 {
				b[at] = '_'
			} else {
				b[at] = '-'
			}
		}
		dst = append(dst, string(b))
	}
	return dst
}
