package authn

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"math/big"

	"github.com/lestrrat-go/jwx/v3/jwa"
)

// algorithm is a JWS algorithm this package verifies.
type algorithm struct {
	name string
	alg  jwa.SignatureAlgorithm
	hash crypto.Hash // 0 for EdDSA, which hashes inside
}

// algorithms is the one list of supported algorithms: the asymmetric JWS
// algorithms a JWKS can serve (RFC 7518 section 3.1, RFC 8037). HMAC and
// "none" are absent on purpose: they can never be configured.
var algorithms = []algorithm{
	{"RS256", jwa.RS256(), crypto.SHA256}, {"RS384", jwa.RS384(), crypto.SHA384}, {"RS512", jwa.RS512(), crypto.SHA512},
	{"PS256", jwa.PS256(), crypto.SHA256}, {"PS384", jwa.PS384(), crypto.SHA384}, {"PS512", jwa.PS512(), crypto.SHA512},
	{"ES256", jwa.ES256(), crypto.SHA256}, {"ES384", jwa.ES384(), crypto.SHA384}, {"ES512", jwa.ES512(), crypto.SHA512},
	{"EdDSA", jwa.EdDSA(), 0},
}

func algorithmNamed(name string) (algorithm, bool) {
	for _, a := range algorithms {
		if a.name == name {
			return a, true
		}
	}
	return algorithm{}, false
}

// SupportedAlgorithms lists the algorithm names AUTH_ALGORITHMS may contain.
func SupportedAlgorithms() []string {
	names := make([]string, len(algorithms))
	for i, a := range algorithms {
		names[i] = a.name
	}
	return names
}

// verifySignature reports whether sigPart (base64url, no padding) is alg's
// signature of signingInput (the token's "header.payload") under key. The
// caller has checked with keyFits that key may use alg.
func verifySignature(key *verificationKey, alg jwa.SignatureAlgorithm, signingInput, sigPart string) bool {
	pub := key.pub
	sig, err := base64.RawURLEncoding.Strict().DecodeString(sigPart)
	if err != nil {
		return false
	}
	name := alg.String()
	if name == "EdDSA" {
		k, ok := pub.(ed25519.PublicKey)
		return ok && ed25519.Verify(k, []byte(signingInput), sig)
	}
	a, ok := algorithmNamed(name)
	if !ok || a.hash == 0 {
		return false
	}
	h := a.hash
	var digest []byte
	if h == crypto.SHA256 { // the common case, without a hash.Hash on the heap
		sum := sha256.Sum256([]byte(signingInput))
		digest = sum[:]
	} else {
		d := h.New()
		d.Write([]byte(signingInput))
		digest = d.Sum(nil)
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		switch name[:2] {
		case "RS":
			if key.rsa != nil {
				return key.rsa.verifyPKCS1v15(h, digest, sig)
			}
			return rsa.VerifyPKCS1v15(k, h, digest, sig) == nil
		case "PS":
			return rsa.VerifyPSS(k, h, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}) == nil
		}
	case *ecdsa.PublicKey:
		// JWS carries R and S as two fixed-size big-endian integers
		// (RFC 7518 section 3.4), not ASN.1.
		n := (k.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*n {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])
		return ecdsa.Verify(k, digest, r, s)
	}
	return false
}
