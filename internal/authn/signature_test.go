package authn

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jws"
)

// TestVerifySignatureEveryAlgorithm checks verifySignature against jwx's
// signers for every supported algorithm: a real signature verifies, a
// flipped bit, another key of the same type or a truncated signature
// does not.
func TestVerifySignatureEveryAlgorithm(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaOther, _ := rsa.GenerateKey(rand.Reader, 2048)
	ec := func(c elliptic.Curve) (*ecdsa.PrivateKey, *ecdsa.PrivateKey) {
		a, _ := ecdsa.GenerateKey(c, rand.Reader)
		b, _ := ecdsa.GenerateKey(c, rand.Reader)
		return a, b
	}
	p256, p256Other := ec(elliptic.P256())
	p384, p384Other := ec(elliptic.P384())
	p521, p521Other := ec(elliptic.P521())
	edPub, edKey, _ := ed25519.GenerateKey(rand.Reader)
	edOther, _, _ := ed25519.GenerateKey(rand.Reader)
	keys := map[string]struct{ priv, pub, other any }{
		"RS":    {rsaKey, &rsaKey.PublicKey, &rsaOther.PublicKey},
		"PS":    {rsaKey, &rsaKey.PublicKey, &rsaOther.PublicKey},
		"ES256": {p256, &p256.PublicKey, &p256Other.PublicKey},
		"ES384": {p384, &p384.PublicKey, &p384Other.PublicKey},
		"ES512": {p521, &p521.PublicKey, &p521Other.PublicKey},
		"EdDSA": {edKey, edPub, edOther},
	}
	const input = "eyJhbGciOiJ4In0.eyJzdWIiOiJ4In0"
	for _, name := range SupportedAlgorithms() {
		t.Run(name, func(t *testing.T) {
			k, ok := keys[name]
			if !ok {
				k = keys[name[:2]]
			}
			a, _ := algorithmNamed(name)
			alg := a.alg
			signer, err := jws.SignerFor(alg)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := signer.Sign(k.priv, []byte(input))
			if err != nil {
				t.Fatal(err)
			}
			enc := base64.RawURLEncoding.EncodeToString
			for _, prepared := range []bool{true, false} {
				if !verifySignature(keyFor(k.pub, prepared), alg, input, enc(sig)) {
					t.Errorf("a real %s signature did not verify (modulus prepared: %v)", name, prepared)
				}
			}
			flipped := append([]byte(nil), sig...)
			flipped[len(flipped)/2] ^= 1
			for what, tc := range map[string]struct {
				pub   any
				input string
				sig   string
			}{
				"bit_flipped":   {k.pub, input, enc(flipped)},
				"other_key":     {k.other, input, enc(sig)},
				"other_input":   {k.pub, input + "x", enc(sig)},
				"truncated":     {k.pub, input, enc(sig[:len(sig)-1])},
				"padded_base64": {k.pub, input, base64.URLEncoding.EncodeToString(sig) + "="},
				"empty":         {k.pub, input, ""},
			} {
				for _, prepared := range []bool{true, false} {
					if verifySignature(keyFor(tc.pub, prepared), alg, tc.input, tc.sig) {
						t.Errorf("%s: %s signature verified (modulus prepared: %v)", what, name, prepared)
					}
				}
			}
		})
	}
}

// keyFor is pub as a key set holds it: an RSA key with its modulus
// prepared, or (prepared false) left to crypto/rsa.
func keyFor(pub any, prepared bool) *verificationKey {
	vk := &verificationKey{pub: pub}
	if k, ok := pub.(*rsa.PublicKey); ok && prepared {
		vk.rsa = prepareRSA(k)
	}
	return vk
}
