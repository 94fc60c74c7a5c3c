package authn

import (
	"crypto"
	"crypto/fips140"
	"crypto/rsa"
	"crypto/subtle"

	"filippo.io/bigmod"
)

// RSASSA-PKCS1-v1_5 verification (RFC 8017 section 8.2.2) with the key's
// modulus prepared once, when the key set is parsed. crypto/rsa prepares
// it again on every verification (Go 1.26: bigmod.NewModulus computes
// R² mod N, about a third of a 2048-bit verification) and has no way to
// keep it for a public key. filippo.io/bigmod is the same constant-time
// arithmetic crypto/rsa is built on, published as a module by its author;
// the encoding and comparison below follow crypto/rsa's verifyPKCS1v15
// step by step, and TestPKCS1v15MatchesCryptoRSA and FuzzPKCS1v15 hold
// them to crypto/rsa's answers.

// Bounds of the keys verified here; any other key is left to crypto/rsa.
const (
	maxPreparedRSABytes = 1024      // 8192-bit modulus
	maxRSAExponent      = 1<<31 - 1 // crypto/rsa's bound
)

// digestInfoPrefixes are the DER encodings of DigestInfo before the hash
// value, for the hashes the RS algorithms use (RFC 8017 section 9.2,
// note 1).
var digestInfoPrefixes = map[crypto.Hash][]byte{
	crypto.SHA256: {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA384: {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30},
	crypto.SHA512: {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
}

// preparedRSA is an RSA public key ready for verifyPKCS1v15. Only
// prepareRSA makes one, from a key it has checked, so the modulus and the
// exponent always come from the same key, the modulus is odd and fits
// the verification's buffer.
type preparedRSA struct {
	n *bigmod.Modulus
	e uint
}

// prepareRSA returns pub ready for verifyPKCS1v15, or nil when pub is a
// key crypto/rsa would refuse (even modulus, exponent out of range), is
// larger than this file handles, or when verification must stay with
// crypto/rsa: in FIPS 140 mode (inside the validated module) and in a
// BoringCrypto build (BoringSSL).
func prepareRSA(pub *rsa.PublicKey) *preparedRSA {
	if fips140.Enabled() || boringCrypto {
		return nil
	}
	if pub.N == nil || pub.N.Bit(0) == 0 || pub.E < 3 || pub.E&1 == 0 || pub.E > maxRSAExponent {
		return nil
	}
	if pub.N.BitLen() < minRSABits || (pub.N.BitLen()+7)/8 > maxPreparedRSABytes {
		return nil
	}
	n, err := bigmod.NewModulus(pub.N.Bytes())
	if err != nil {
		return nil
	}
	return &preparedRSA{n: n, e: uint(pub.E)}
}

// verifyPKCS1v15 reports whether sig is a valid RSASSA-PKCS1-v1_5
// signature of digest (a hash of kind h) under key.
func (key *preparedRSA) verifyPKCS1v15(h crypto.Hash, digest, sig []byte) bool {
	n := key.n
	prefix, ok := digestInfoPrefixes[h]
	if !ok || len(digest) != h.Size() {
		return false
	}
	// The signature is exactly as long as the modulus (8.2.2 step 1).
	var buf [maxPreparedRSABytes]byte
	k := n.Size()
	if len(sig) != k || k > len(buf) {
		return false
	}
	// s < n, then m = s^e mod n, as k octets (RSAVP1, I2OSP).
	s, err := bigmod.NewNat().SetBytes(sig, n)
	if err != nil {
		return false
	}
	em := bigmod.NewNat().ExpShortVarTime(s, key.e, n).Bytes(n)

	// The expected encoding (EMSA-PKCS1-v1_5, section 9.2):
	// 0x00 0x01 0xff... 0x00 DigestInfo, with at least 8 bytes of 0xff.
	tLen := len(prefix) + len(digest)
	if k < tLen+11 {
		return false
	}
	want := buf[:k]
	want[1] = 0x01
	for i := 2; i < k-tLen-1; i++ {
		want[i] = 0xff
	}
	copy(want[k-tLen:], prefix)
	copy(want[k-len(digest):], digest)
	return subtle.ConstantTimeCompare(em, want) == 1
}
