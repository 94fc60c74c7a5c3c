package authn

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// minRSABits is the smallest RSA modulus we accept in a key set.
const minRSABits = 2048

// verificationKey is one public key from the set, ready for use.
type verificationKey struct {
	kid string
	alg string // the key's own "alg", or "" when the provider did not pin one
	pub any    // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
	// rsa is an RSA key prepared for verification once (rsapkcs1.go);
	// nil for other keys and for keys left to crypto/rsa.
	rsa *preparedRSA
}

// keyIndex is an immutable snapshot of the key set.
type keyIndex struct {
	byKID   map[string]*verificationKey
	all     []*verificationKey
	fetched time.Time
}

// errNoSigningKeys: a well-formed JWK Set in which no key can verify a
// signature (an empty list, or only keys this verifier does not use:
// encryption, symmetric or weak keys, unsupported types or curves). That
// is the provider's word, unlike an answer that is not a key set at all:
// once keys are in use, it revokes them (keyset.go).
var errNoSigningKeys = errors.New("no usable signing key")

// parseKeySet keeps the usable public signature keys of a JWKS. Symmetric
// keys are never used: HMAC with a published key set is an attack, not a
// configuration. Each key is parsed on its own, so one key this package
// cannot use (jwx refuses an RSA key under 2048 bits while parsing it) is
// skipped like any other unusable key instead of refusing the whole set.
func parseKeySet(body []byte) (*keyIndex, error) {
	var set struct {
		Keys *[]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("not a JWK set: %w", err)
	}
	if set.Keys == nil {
		return nil, errors.New(`not a JWK set: no "keys" array`)
	}
	idx := &keyIndex{byKID: make(map[string]*verificationKey, len(*set.Keys))}
	var skipped []string
	malformed := false // a key jwx could not parse: not the provider's word
	for i, raw := range *set.Keys {
		m := membersOf(raw)
		var vk *verificationKey
		err := m.forbidsVerifying()
		if err == nil {
			var key jwk.Key
			if key, err = jwk.ParseKey(raw); err != nil {
				malformed = malformed || !m.unsupported()
			} else {
				vk, err = toVerificationKey(key)
			}
		}
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("key %d (kid %q): %v", i, m.Kid, err))
			continue
		}
		if vk.kid != "" {
			if _, dup := idx.byKID[vk.kid]; dup {
				return nil, fmt.Errorf("duplicate kid %q", vk.kid)
			}
			idx.byKID[vk.kid] = vk
		}
		idx.all = append(idx.all, vk)
	}
	switch {
	case len(idx.all) > 0:
	case malformed:
		// A key that is broken (no kty, bad base64) is garbage, like a
		// body that is not a set: not the provider's word.
		return nil, fmt.Errorf("no usable signing key, and some keys do not parse (skipped %s)", strings.Join(skipped, "; "))
	case len(skipped) > 0:
		return nil, fmt.Errorf("%w (skipped %s)", errNoSigningKeys, strings.Join(skipped, "; "))
	default:
		return nil, fmt.Errorf("%w: the key list is empty", errNoSigningKeys)
	}
	return idx, nil
}

// keyMembers are the members of a JWK read before jwx parses it, to tell
// a key the provider made unusable for us (the provider's word) from a
// broken one (garbage).
type keyMembers struct {
	Kid, Kty, Crv, Use, N string
	KeyOps                []string // nil when absent or null
	ok                    bool     // the key is a JSON object
}

// membersOf reads a key's members one by one, so that a member of an odd
// type elsewhere in the key cannot hide its use or key_ops. A use that is
// not a string reads as an unknown use, and key_ops that are not a list of
// strings as a list without verify: both forbid verifying.
func membersOf(raw json.RawMessage) keyMembers {
	var fields map[string]any
	if json.Unmarshal(raw, &fields) != nil || fields == nil {
		return keyMembers{}
	}
	m := keyMembers{ok: true}
	m.Kid, _ = fields["kid"].(string) // for messages
	m.Kty, _ = fields["kty"].(string)
	m.Crv, _ = fields["crv"].(string)
	m.N, _ = fields["n"].(string)
	if v, present := fields["use"]; present {
		var isString bool
		if m.Use, isString = v.(string); !isString {
			m.Use = fmt.Sprint(v) // not "sig"
			if m.Use == "" || m.Use == "sig" {
				m.Use = "(not a string)"
			}
		}
	}
	switch ops := fields["key_ops"].(type) {
	case nil:
	case []any:
		m.KeyOps = []string{}
		for _, op := range ops {
			if op, isString := op.(string); isString {
				m.KeyOps = append(m.KeyOps, op)
			}
		}
	default:
		m.KeyOps = []string{} // not a list: allows nothing
	}
	return m
}

// forbidsVerifying refuses a key whose use or key_ops (RFC 7517 sections
// 4.2 and 4.3) leave out signature verification. An empty use and a null
// key_ops say nothing; key_ops [] allows nothing.
func (m keyMembers) forbidsVerifying() error {
	switch {
	case !m.ok:
		return nil // not an object: left to jwx, which refuses it as broken
	case m.Use != "" && m.Use != "sig":
		return fmt.Errorf("use %q is not sig", m.Use)
	case m.KeyOps != nil && !slices.Contains(m.KeyOps, "verify"):
		return fmt.Errorf("key_ops %q do not include verify", m.KeyOps)
	}
	return nil
}

// unsupported reports whether a key jwx could not parse is a well-formed
// key of a kind this verifier does not use, which the provider means: an
// RSA key under 2048 bits (jwx refuses those while parsing), or a key type
// or curve it does not support (RFC 7517 section 5: such keys are
// ignored). A key of a supported type and curve that jwx cannot parse
// otherwise is broken.
func (m keyMembers) unsupported() bool {
	if !m.ok || m.Kty == "" {
		return false
	}
	switch m.Kty {
	case "RSA":
		n, err := decodeLenient(m.N)
		return err == nil && len(n) > 0 && new(big.Int).SetBytes(n).BitLen() < minRSABits
	case "EC":
		return m.Crv != "" && !slices.Contains([]string{"P-256", "P-384", "P-521"}, m.Crv)
	case "OKP":
		return m.Crv != "" && m.Crv != "Ed25519"
	default: // oct and unknown types: never a signature key here
		return true
	}
}

// decodeLenient decodes base64 as jwx accepts it: URL or standard
// alphabet, padded or not.
func decodeLenient(s string) ([]byte, error) {
	s = strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(s), "=")
	return base64.RawURLEncoding.DecodeString(s)
}

// toVerificationKey turns a parsed key whose use and key_ops allow
// verifying into a verification key. keyMembers.forbidsVerifying has read
// them from the JSON already; they are checked again as jwx reads them,
// so that no difference between the two readings lets a key through.
func toVerificationKey(key jwk.Key) (*verificationKey, error) {
	if use, ok := key.KeyUsage(); ok && use != "" && use != "sig" {
		return nil, fmt.Errorf("use %q is not sig", use)
	}
	if ops, ok := key.KeyOps(); ok && ops != nil && !slices.Contains(ops, jwk.KeyOpVerify) {
		return nil, fmt.Errorf("key_ops %q do not include verify", ops)
	}
	kid, _ := key.KeyID()
	vk := &verificationKey{kid: kid}
	if alg, ok := key.Algorithm(); ok {
		vk.alg = alg.String()
	}
	pubKey, err := key.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("no public key: %w", err)
	}
	var raw any
	if err := jwk.Export(pubKey, &raw); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	switch pub := raw.(type) {
	case *rsa.PublicKey:
		if pub.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("RSA key of %d bits is weaker than %d", pub.N.BitLen(), minRSABits)
		}
		vk.rsa = prepareRSA(pub)
	case *ecdsa.PublicKey, ed25519.PublicKey:
	default:
		return nil, fmt.Errorf("key type %T cannot verify signatures here", raw)
	}
	vk.pub = raw
	return vk, nil
}
