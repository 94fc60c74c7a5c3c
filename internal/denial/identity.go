package denial

import (
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/policygate/policygate/internal/gate"
)

// The identity headers every face sends on an allow (docs/design.md,
// "Identity headers").
const (
	HeaderSubject    = "X-Auth-Subject"
	HeaderScopes     = "X-Auth-Scopes"
	HeaderIssuer     = "X-Auth-Issuer"
	HeaderDecisionID = "X-Decision-Id"
)

// IdentityNames lists the identity headers in a fixed order.
func IdentityNames() [4]string {
	return [4]string{HeaderSubject, HeaderScopes, HeaderIssuer, HeaderDecisionID}
}

// MaxIdentityBytes bounds the identity headers of one answer together: an
// answer over it is refused rather than sent in part.
const MaxIdentityBytes = 8 << 10

// Header is one header to send.
type Header struct{ Name, Value string }

// ErrBadIdentity: the identity of an allowed outcome cannot be sent as
// headers (a value that is not a valid field value, or too large). The
// faces turn the allow into a 403: an upstream never sees half an identity.
var ErrBadIdentity = errors.New("identity headers cannot be sent")

// Identity returns the identity headers of an allowed outcome: set holds
// the names with a value (the four identity names, then the policy's own
// headers by name), remove the identity names and declared policy headers
// without one (an empty value is sent as absent, so a client's copy must
// be removed). A name is never in both.
func Identity(out gate.Outcome) (set []Header, remove []string, err error) {
	values := [4]string{out.Subject, strings.Join(out.Granted, " "), out.Issuer, out.DecisionID}
	names := IdentityNames()
	total := 0
	set = make([]Header, 0, len(names)+len(out.Headers))
	for i, v := range values {
		if v == "" {
			remove = append(remove, names[i])
			continue
		}
		if !validFieldValue(v) {
			return nil, nil, ErrBadIdentity
		}
		total += len(names[i]) + len(v) + 4
		set = append(set, Header{Name: names[i], Value: v})
	}
	n, err := policyHeaderBytes(out)
	if err != nil || total+n > MaxIdentityBytes {
		return nil, nil, ErrBadIdentity
	}
	if len(out.Headers) > 0 { // most policies add none: no sorting then
		for _, name := range slices.Sorted(maps.Keys(out.Headers)) {
			if v := out.Headers[name]; v != "" {
				set = append(set, Header{Name: name, Value: v})
			}
		}
	}
	for _, name := range out.DeclaredHeaders {
		if out.Headers[name] == "" {
			remove = append(remove, name)
		}
	}
	return set, remove, nil
}

// policyHeaderBytes checks the policy's own headers of out (names under
// X-Auth- other than the identity names, valid field values) and returns
// their size as Identity counts it.
func policyHeaderBytes(out gate.Outcome) (int, error) {
	total := 0
	for name, v := range out.Headers {
		if !policyHeaderName(name) {
			return 0, ErrBadIdentity
		}
		if v == "" {
			continue
		}
		if !validFieldValue(v) {
			return 0, ErrBadIdentity
		}
		total += len(name) + len(v) + 4
	}
	return total, nil
}

// policyHeaderName: a canonical X-Auth-* name that is not an identity
// name (authz checks the declarations; this keeps the faces safe alone).
func policyHeaderName(name string) bool {
	if len(name) <= len("X-Auth-") || !strings.HasPrefix(name, "X-Auth-") || name != http.CanonicalHeaderKey(name) {
		return false
	}
	for _, n := range IdentityNames() {
		if name == n {
			return false
		}
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// validFieldValue reports whether v is a field value that every proxy
// passes on unchanged (RFC 9110 section 5.5, without obs-text): visible
// ASCII and inner spaces or tabs.
func validFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if (c < 0x20 && c != '\t') || c == 0x7f || c >= 0x80 {
			return false
		}
	}
	return v[0] != ' ' && v[0] != '\t' && v[len(v)-1] != ' ' && v[len(v)-1] != '\t'
}

// CheckIdentity reports, without building the headers, whether Identity
// would succeed for out: the gate runs it on every allow
// (gate.WithAllowCheck), so the refusal is decided and counted there.
func CheckIdentity(out gate.Outcome) error {
	total := 0
	for i, v := range [...]string{out.Subject, out.Issuer, out.DecisionID} {
		if v == "" {
			continue
		}
		if !validFieldValue(v) {
			return ErrBadIdentity
		}
		total += len(IdentityNames()[[...]int{0, 2, 3}[i]]) + len(v) + 4
	}
	if len(out.Granted) > 0 {
		// The joined value, checked piece by piece: what Identity sends.
		n := len(out.Granted) - 1
		for _, s := range out.Granted {
			for j := 0; j < len(s); j++ {
				if c := s[j]; (c < 0x20 && c != '\t') || c == 0x7f || c >= 0x80 {
					return ErrBadIdentity
				}
			}
			n += len(s)
		}
		if n > 0 {
			first, last := out.Granted[0], out.Granted[len(out.Granted)-1]
			if first == "" || last == "" || first[0] == ' ' || first[0] == '\t' ||
				last[len(last)-1] == ' ' || last[len(last)-1] == '\t' {
				return ErrBadIdentity
			}
		}
		total += len(HeaderScopes) + n + 4
	}
	n, err := policyHeaderBytes(out)
	if err != nil || total+n > MaxIdentityBytes {
		return ErrBadIdentity
	}
	return nil
}
