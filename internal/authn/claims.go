package authn

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
)

// Claims is a verified token's payload and what we derive from it.
type Claims struct {
	// raw is the payload's JSON text; payload its decoded form, which
	// Payload returns (decoding raw on first use when it is nil).
	raw         string
	payloadOnce sync.Once
	payload     map[string]any
	// Subject is "sub", or "" when absent.
	Subject string
	// Scopes is the sorted, de-duplicated union of the space-separated
	// "scope" claim and the "permissions" array (Auth0 RBAC).
	Scopes []string
	// ExpiresAt is "exp".
	ExpiresAt time.Time
	// Issuer is "iss": the configured issuer whose key verified the token.
	Issuer string
	// Audiences are the configured audiences of that issuer that "aud"
	// names, in configuration order (at least one).
	Audiences []string
}

// Payload returns the whole JSON payload, numbers as json.Number. Claims
// the token cache keeps hold the payload's text only (about half the
// memory of the decoded map, and a tenth of the heap objects for the
// collector to mark): it is decoded on the first call and kept from then
// on, so a policy that never reads claims never pays for it. Nil only if
// the text cannot be decoded, which claims from Verify never are. Safe
// for concurrent use; the map must not be modified.
func (c *Claims) Payload() map[string]any {
	c.payloadOnce.Do(func() {
		if c.payload != nil {
			return
		}
		// raw decoded when the token was verified and decoding is
		// deterministic, so this never fails for claims Verify returned;
		// if it did, nil makes the engine fail the decision (a denial),
		// where an empty payload would skip a rule that denies on a claim.
		if m, ok := decodeJSONText(c.raw); ok {
			c.payload = m
		}
	})
	return c.payload
}

// withoutPayload is c as the token cache keeps it: everything but the
// decoded payload, which Payload rebuilds from the text when asked.
func (c *Claims) withoutPayload() *Claims {
	return &Claims{raw: c.raw, Subject: c.Subject, Scopes: c.Scopes, ExpiresAt: c.ExpiresAt, Issuer: c.Issuer, Audiences: c.Audiences}
}

// maxPayloadBytes bounds the decoded payload (the token's size already
// bounds it; this keeps the decoder's input explicit).
const maxPayloadBytes = MaxTokenBytes

// parseClaims decodes a token's payload segment. It only reads: nothing in
// it is trusted until the signature is checked.
func parseClaims(part string) (*Claims, error) {
	if base64.RawURLEncoding.DecodedLen(len(part)) > maxPayloadBytes {
		return nil, invalid("token payload is too large")
	}
	payload, err := base64.RawURLEncoding.Strict().DecodeString(part)
	if err != nil {
		return nil, invalid("token payload is not base64url")
	}
	raw := string(payload)
	m, ok := decodeJSONText(raw)
	if !ok {
		return nil, invalid("token payload is not a JSON object")
	}
	c := &Claims{raw: raw, payload: m}
	if sub, ok := m["sub"]; ok {
		s, isString := sub.(string)
		if !isString {
			return nil, invalid(`"sub" is not a string`)
		}
		c.Subject = s
	}
	c.Issuer, _ = m["iss"].(string)
	c.Scopes = scopesOf(m)
	return c, nil
}

// scopesOf unites the "scope" string and the "permissions" array. Values of
// any other type grant nothing, and neither does a name that is not an RFC
// 6749 scope-token: "scope" is split on the space character only, as the
// RFC says (a tab or a non-breaking space does not separate two scopes),
// and a name holding a space or any other character a scope-token cannot
// hold is dropped whole. A granted scope therefore never holds a space,
// so the space-joined list an upstream receives (X-Auth-Scopes) splits
// back into exactly the scopes the policy saw.
func scopesOf(m map[string]any) []string {
	var scopes []string
	if s, ok := m["scope"].(string); ok {
		for name := range strings.SplitSeq(s, " ") {
			if isScopeToken(name) {
				scopes = append(scopes, name)
			}
		}
	}
	if perms, ok := m["permissions"].([]any); ok {
		for _, p := range perms {
			if s, ok := p.(string); ok && isScopeToken(s) {
				scopes = append(scopes, s)
			}
		}
	}
	slices.Sort(scopes)
	return slices.Compact(scopes)
}

// isScopeToken reports whether s is an RFC 6749 (section 3.3) scope-token:
// one or more of the printable ASCII characters other than space, '"' and
// '\'.
func isScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// validate checks the registered claims of a token whose signature iss's
// key verified, and records the audiences it matched. notBefore is the
// later of nbf and iat (zero when neither is set), for the token cache.
func (v *Verifier) validate(c *Claims, iss *trustedIssuer) (notBefore time.Time, err error) {
	now := v.now()
	exp, ok, err := numericDate(c.payload, "exp")
	switch {
	case err != nil:
		return notBefore, err
	case !ok:
		return notBefore, invalid(`token has no "exp"`)
	case !now.Before(exp.Add(v.skew)):
		return notBefore, invalid("token has expired")
	}
	c.ExpiresAt = exp
	for _, name := range [...]string{"nbf", "iat"} {
		t, ok, err := numericDate(c.payload, name)
		switch {
		case err != nil:
			return notBefore, err
		case !ok:
			continue
		case now.Add(v.skew).Before(t) && name == "nbf":
			return notBefore, invalid("token is not valid yet")
		case now.Add(v.skew).Before(t):
			return notBefore, invalid("token was issued in the future")
		}
		if t.After(notBefore) {
			notBefore = t
		}
	}
	if c.Issuer != iss.name {
		return notBefore, invalid("issuer is not accepted")
	}
	for _, want := range iss.audiences {
		if hasAudience(c.payload["aud"], want) {
			c.Audiences = append(c.Audiences, want)
		}
	}
	if len(c.Audiences) == 0 {
		return notBefore, invalid("audience is not accepted")
	}
	return notBefore, nil
}

// numericDate reads a NumericDate claim (RFC 7519 section 2).
func numericDate(m map[string]any, name string) (time.Time, bool, error) {
	v, ok := m[name]
	if !ok {
		return time.Time{}, false, nil
	}
	n, isNumber := v.(json.Number)
	if !isNumber {
		return time.Time{}, false, invalid(fmt.Sprintf("%q is not a number", name))
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e11 {
		return time.Time{}, false, invalid(fmt.Sprintf("%q is out of range", name))
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}

func hasAudience(aud any, want string) bool {
	switch a := aud.(type) {
	case string:
		return a == want
	case []any:
		for _, x := range a {
			if s, ok := x.(string); ok && s == want {
				return true
			}
		}
	}
	return false
}
