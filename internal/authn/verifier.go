package authn

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lestrrat-go/jwx/v3/jwa"
)

// MaxTokenBytes bounds the size of a bearer token we are willing to parse.
const MaxTokenBytes = 16 << 10

// maxHeaderBytes bounds the decoded JOSE header.
const maxHeaderBytes = 2 << 10

// VerifierConfig is what a token must satisfy. Issuer, Audience and
// Algorithms describe the one issuer of NewVerifier; NewMultiIssuerVerifier
// takes its issuers apart and ignores them.
type VerifierConfig struct {
	Issuer     string   // exact "iss"
	Audience   string   // must be in "aud"
	Algorithms []string // accepted "alg" values; each from SupportedAlgorithms
	ClockSkew  time.Duration
	Now        func() time.Time // nil means time.Now
	// CacheSize bounds the cache of verified tokens (see cache.go); 0 or
	// less turns it off. The server uses DefaultCacheSize.
	CacheSize int
}

// IssuerConfig is one trusted issuer: its tokens must name it in "iss",
// carry one of its audiences in "aud", use one of its algorithms and be
// signed by a key of its own key set.
type IssuerConfig struct {
	Issuer     string   // exact "iss"
	Audiences  []string // at least one; any one must be in "aud"
	Algorithms []string // accepted "alg" values; each from SupportedAlgorithms
	Keys       *KeySet
}

// trustedIssuer is an IssuerConfig checked and ready for lookups.
type trustedIssuer struct {
	name       string
	audiences  []string
	algorithms map[string]jwa.SignatureAlgorithm
	keys       *KeySet
}

// Verifier checks bearer tokens against the key set of the issuer each
// token names, and the configuration.
type Verifier struct {
	issuers map[string]*trustedIssuer // by exact "iss"
	// algorithms is every issuer's algorithms together: a token whose alg
	// no issuer accepts is refused before its payload is read.
	algorithms map[string]bool
	skew       time.Duration
	now        func() time.Time
	cache      *tokenCache // nil when off
}

// NewVerifier checks the configuration and returns a Verifier for the one
// issuer cfg names, whose keys are keys.
func NewVerifier(keys *KeySet, cfg VerifierConfig) (*Verifier, error) {
	if cfg.Audience == "" {
		return nil, fmt.Errorf("verifier needs an issuer and an audience")
	}
	return NewMultiIssuerVerifier([]IssuerConfig{{
		Issuer: cfg.Issuer, Audiences: []string{cfg.Audience}, Algorithms: cfg.Algorithms, Keys: keys,
	}}, cfg)
}

// NewMultiIssuerVerifier returns a Verifier that trusts each of issuers,
// each with its own audiences, algorithms and key set. A token is checked
// only against the issuer its "iss" names: one issuer's key never
// verifies another's token. cfg's Issuer, Audience and Algorithms are not
// used.
func NewMultiIssuerVerifier(issuers []IssuerConfig, cfg VerifierConfig) (*Verifier, error) {
	if len(issuers) == 0 {
		return nil, fmt.Errorf("verifier needs at least one issuer")
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	v := &Verifier{
		issuers: make(map[string]*trustedIssuer, len(issuers)), algorithms: map[string]bool{},
		skew: cfg.ClockSkew, now: now, cache: newTokenCache(cfg.CacheSize),
	}
	for _, ic := range issuers {
		ti, err := newTrustedIssuer(ic)
		if err != nil {
			return nil, err
		}
		if _, dup := v.issuers[ti.name]; dup {
			return nil, fmt.Errorf("issuer %q is configured twice", ti.name)
		}
		v.issuers[ti.name] = ti
		for name := range ti.algorithms {
			v.algorithms[name] = true
		}
	}
	return v, nil
}

func newTrustedIssuer(ic IssuerConfig) (*trustedIssuer, error) {
	if ic.Issuer == "" || len(ic.Audiences) == 0 || slices.Contains(ic.Audiences, "") {
		return nil, fmt.Errorf("verifier needs an issuer and an audience")
	}
	if ic.Keys == nil {
		return nil, fmt.Errorf("issuer %q has no key set", ic.Issuer)
	}
	if len(ic.Algorithms) == 0 {
		return nil, fmt.Errorf("verifier needs at least one algorithm")
	}
	algs := make(map[string]jwa.SignatureAlgorithm, len(ic.Algorithms))
	for _, name := range ic.Algorithms {
		a, ok := algorithmNamed(name)
		if !ok {
			return nil, fmt.Errorf("algorithm %q is not supported (use one of %s)", name, strings.Join(SupportedAlgorithms(), ", "))
		}
		algs[name] = a.alg
	}
	return &trustedIssuer{name: ic.Issuer, audiences: slices.Clone(ic.Audiences), algorithms: algs, keys: ic.Keys}, nil
}

// joseHeader holds the header fields we look at. jku, x5u, jwk and x5c are
// deliberately not read: keys come only from the configured key set.
type joseHeader struct {
	Alg, KID string
	// Crit and B64 are set when the header has the member, whatever its
	// value: neither extension is implemented here.
	Crit, B64 bool
}

// Verify checks the token's form, algorithm, signature and registered claims
// and returns its claims. Every refusal matches ErrInvalidToken, except
// ErrKeysUnavailable before the first key fetch. The returned claims may be
// shared with other requests carrying the same token: do not modify them.
func (v *Verifier) Verify(ctx context.Context, token Token) (*Claims, error) {
	raw := string(token)
	if len(raw) > MaxTokenBytes {
		return nil, invalid("token is too large")
	}
	ck, cached := v.cachedClaims(raw)
	if cached != nil {
		if o := observerFrom(ctx); o != nil {
			o.CacheHit = true
		}
		return cached, nil
	}
	if strings.Count(raw, ".") != 2 {
		return nil, invalid("token is not a signed JWT (want header.payload.signature)")
	}
	headerPart, rest, _ := strings.Cut(raw, ".")
	payloadPart, sigPart, _ := strings.Cut(rest, ".")
	switch {
	case headerPart == "" || payloadPart == "":
		return nil, invalid("token has an empty part")
	case sigPart == "":
		return nil, invalid(`token is unsigned: an empty signature ("alg": "none") is never accepted`)
	}
	header, err := decodeHeader(headerPart)
	if err != nil {
		return nil, err
	}
	if header.Crit {
		return nil, invalid(`token header has "crit" extensions this server does not understand`)
	}
	if header.B64 {
		// RFC 7797: honouring b64=false would change what was signed,
		// and a header member that changes the meaning of the signature
		// but is not understood must not be ignored.
		return nil, invalid(`token header has "b64": unencoded payloads are not accepted`)
	}
	if !v.algorithms[header.Alg] {
		return nil, invalid(fmt.Sprintf("algorithm %q is not accepted", truncate(header.Alg, 16)))
	}
	// The payload is read before the signature is checked, only to learn
	// which issuer's keys may check it: nothing in it is trusted until then.
	claims, err := parseClaims(payloadPart)
	if err != nil {
		return nil, err
	}
	iss := v.issuers[claims.Issuer]
	if iss == nil {
		return nil, invalid("issuer is not accepted")
	}
	alg, ok := iss.algorithms[header.Alg]
	if !ok {
		return nil, invalid(fmt.Sprintf("algorithm %q is not accepted", truncate(header.Alg, 16)))
	}
	candidates, err := iss.keys.lookup(ctx, header.KID)
	if err != nil {
		return nil, err
	}
	var signer *verificationKey
	for _, key := range candidates {
		if !keyFits(key, header.Alg) {
			continue
		}
		if verifySignature(key, alg, raw[:len(headerPart)+1+len(payloadPart)], sigPart) {
			signer = key
			break
		}
	}
	if signer == nil {
		if header.KID != "" && len(candidates) == 1 && !keyFits(candidates[0], header.Alg) {
			return nil, invalid(fmt.Sprintf("signing key %q does not allow algorithm %s", truncate(header.KID, 64), header.Alg))
		}
		return nil, invalid("signature is invalid")
	}
	notBefore, err := v.validate(claims, iss)
	if err != nil {
		return nil, err
	}
	v.remember(ck, claims, notBefore, iss.keys, signer)
	return claims, nil
}

func decodeHeader(part string) (*joseHeader, error) {
	if base64.RawURLEncoding.DecodedLen(len(part)) > maxHeaderBytes {
		return nil, invalid("token header is too large")
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(part)
	if err != nil {
		return nil, invalid("token header is not base64url")
	}
	m, ok := decodeJSONObject(b)
	if !ok {
		return nil, invalid("token header is not a JSON object")
	}
	var h joseHeader
	alg, algOK := m["alg"].(string)
	kid, kidOK := m["kid"].(string)
	_, hasKID := m["kid"]
	if _, has := m["alg"]; has && !algOK || hasKID && !kidOK {
		return nil, invalid(`token header is not a JSON object of the expected form ("alg" and "kid" are strings)`)
	}
	h.Alg, h.KID = alg, kid
	_, h.Crit = m["crit"]
	_, h.B64 = m["b64"]
	if h.Alg == "" {
		return nil, invalid(`token header has no "alg"`)
	}
	return &h, nil
}

// keyFits reports whether key may verify alg: the key's own "alg" (when the
// provider pinned one) must match, and the key type must be the algorithm's.
func keyFits(key *verificationKey, alg string) bool {
	if key.alg != "" && key.alg != alg {
		return false
	}
	switch pub := key.pub.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return pub.Curve == elliptic.P256()
		case "ES384":
			return pub.Curve == elliptic.P384()
		case "ES512":
			return pub.Curve == elliptic.P521()
		}
		return false
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// truncate shortens s to at most n bytes for an error description,
// cutting before a character rather than inside one.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
