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
// signature (an empty list, only encryption, symmetric or weak keys). That
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
		key, err := jwk.ParseKey(raw)
		var vk *verificationKey
		if err != nil {
			malformed = malformed || !declaredUnusable(raw)
		} else {
			vk, err = toVerificationKey(key)
		}
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("key %d (kid %q): %v", i, kidOf(raw), err))
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

// declaredUnusable reports whether a key jwx could not parse is a
// well-formed key this verifier does not use, which the provider means:
// one whose use or key_ops forbid verifying, an RSA key under 2048 bits
// (jwx refuses those while parsing), or a key type or curve this verifier
// does not support (RFC 7517 section 5: ignored). Anything else (no kty,
// a modulus that is not base64url) is broken.
func declaredUnusable(raw json.RawMessage) bool {
	var k struct {
		Kty    string   `json:"kty"`
		Crv    string   `json:"crv"`
		Use    string   `json:"use"`
		KeyOps []string `json:"key_ops"`
		N      string   `json:"n"`
	}
	if json.Unmarshal(raw, &k) != nil || k.Kty == "" {
		return false
	}
	if k.Use != "" && k.Use != "sig" || k.KeyOps != nil && !slices.Contains(k.KeyOps, "verify") {
		return true
	}
	switch k.Kty {
	case "RSA":
		n, err := base64.RawURLEncoding.DecodeString(k.N)
		return err == nil && len(n) > 0 && new(big.Int).SetBytes(n).BitLen() < minRSABits
	case "EC":
		return k.Crv != "" && !slices.Contains([]string{"P-256", "P-384", "P-521"}, k.Crv)
	case "OKP":
		return k.Crv != "" && k.Crv != "Ed25519"
	case "oct":
		return true
	default:
		return true
	}
}

// kidOf reads a key's "kid" for a message about a key that did not parse.
func kidOf(raw json.RawMessage) string {
	var k struct {
		KID string `json:"kid"`
	}
	json.Unmarshal(raw, &k)
	return k.KID
}

func toVerificationKey(key jwk.Key) (*verificationKey, error) {
	if use, ok := key.KeyUsage(); ok && use != "sig" {
		return nil, fmt.Errorf("use %q is not sig", use)
	}
	// key_ops, when present, must allow verifying (RFC 7517 section 4.3).
	if ops, ok := key.KeyOps(); ok && !slices.Contains(ops, jwk.KeyOpVerify) {
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
