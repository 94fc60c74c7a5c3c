package authn

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"math/big"

	"github.com/lestrrat-go/jwx/v3/jwa"
)

// hashes are the digests of the JWS algorithms (RFC 7518 section 3.1).
var hashes = map[string]crypto.Hash{
	"RS256": crypto.SHA256, "RS384": crypto.SHA384, "RS512": crypto.SHA512,
	"PS256": crypto.SHA256, "PS384": crypto.SHA384, "PS512": crypto.SHA512,
	"ES256": crypto.SHA256, "ES384": crypto.SHA384, "ES512": crypto.SHA512,
}

// verifySignature reports whether sigPart (base64url, no padding) is alg's
// signature of signingInput (the token's "header.payload") under pub. The
// caller has checked with keyFits that pub may use alg.
func verifySignature(pub any, alg jwa.SignatureAlgorithm, signingInput, sigPart string) bool {
	sig, err := base64.RawURLEncoding.Strict().DecodeString(sigPart)
	if err != nil {
		return false
	}
	name := alg.String()
	if name == "EdDSA" {
		k, ok := pub.(ed25519.PublicKey)
		return ok && ed25519.Verify(k, []byte(signingInput), sig)
	}
	h, ok := hashes[name]
	if !ok {
		return false
	}
	d := h.New()
	d.Write([]byte(signingInput))
	digest := d.Sum(nil)
	switch k := pub.(type) {
	case *rsa.PublicKey:
		switch name[:2] {
		case "RS":
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
