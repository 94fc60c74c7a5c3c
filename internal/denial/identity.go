package denial

import (
	"errors"
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
// the names with a value, remove the identity names without one (an empty
// value is sent as absent, so a client's copy must be removed).
func Identity(out gate.Outcome) (set []Header, remove []string, err error) {
	values := [4]string{out.Subject, strings.Join(out.Granted, " "), out.Issuer, out.DecisionID}
	names := IdentityNames()
	total := 0
	set = make([]Header, 0, len(names))
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
	if total > MaxIdentityBytes {
		return nil, nil, ErrBadIdentity
	}
	return set, remove, nil
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
	if total > MaxIdentityBytes {
		return ErrBadIdentity
	}
	return nil
}
