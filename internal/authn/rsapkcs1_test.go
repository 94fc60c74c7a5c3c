package authn

import (
	"crypto"
	"crypto/fips140"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"math/big"
	"testing"
)

// rawSign is the RSA private operation on em as it stands, with no
// padding: it lets a test sign encodings a real signer never makes.
func rawSign(t testing.TB, k *rsa.PrivateKey, em []byte) []byte {
	t.Helper()
	s := new(big.Int).Exp(new(big.Int).SetBytes(em), k.D, k.N)
	return s.FillBytes(make([]byte, k.Size()))
}

// pkcs1Encoding is EMSA-PKCS1-v1_5 of digest for a k-byte modulus, with
// the padding bytes (ps) given, so that a test can get them wrong.
func pkcs1Encoding(k int, lead []byte, ps []byte, prefix, digest []byte) []byte {
	em := append([]byte{}, lead...)
	em = append(em, ps...)
	em = append(em, 0x00)
	em = append(em, prefix...)
	em = append(em, digest...)
	if len(em) < k {
		em = append(make([]byte, k-len(em)), em...)
	}
	return em[len(em)-k:]
}

// keyWithExponent makes an RSA key with public exponent e (crypto/rsa
// always uses 65537).
func keyWithExponent(t testing.TB, bits, e int) *rsa.PrivateKey {
	t.Helper()
	E := big.NewInt(int64(e))
	for range 100 {
		p, err := rand.Prime(rand.Reader, bits/2)
		if err != nil {
			t.Fatal(err)
		}
		q, err := rand.Prime(rand.Reader, bits/2)
		if err != nil {
			t.Fatal(err)
		}
		n := new(big.Int).Mul(p, q)
		if p.Cmp(q) == 0 || n.BitLen() != bits {
			continue
		}
		one := big.NewInt(1)
		phi := new(big.Int).Mul(new(big.Int).Sub(p, one), new(big.Int).Sub(q, one))
		d := new(big.Int).ModInverse(E, phi)
		if d == nil {
			continue
		}
		k := &rsa.PrivateKey{PublicKey: rsa.PublicKey{N: n, E: e}, D: d, Primes: []*big.Int{p, q}}
		if err := k.Validate(); err != nil {
			continue
		}
		k.Precompute()
		return k
	}
	t.Fatalf("no %d-bit key with e=%d in 100 tries", bits, e)
	return nil
}

// TestPKCS1v15MatchesCryptoRSA holds verifyPKCS1v15 to crypto/rsa's
// answer for real signatures and for every way a signature can be wrong:
// altered, out of range, of the wrong length, for another hash or key,
// and well-formed RSA over a malformed encoding (the forgeries a lax
// padding parser lets through).
func TestPKCS1v15MatchesCryptoRSA(t *testing.T) {
	skipUnprepared(t)
	keys := []struct {
		name string
		key  *rsa.PrivateKey
	}{
		{"2048_e65537", mustRSAKey(t, 2048)},
		{"3072_e65537", mustRSAKey(t, 3072)},
		{"2048_e3", keyWithExponent(t, 2048, 3)},
	}
	other := mustRSAKey(t, 2048)
	msg := []byte("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0")
	sum256, sum384, sum512 := sha256.Sum256(msg), sha512.Sum384(msg), sha512.Sum512(msg)
	digests := map[crypto.Hash][]byte{crypto.SHA256: sum256[:], crypto.SHA384: sum384[:], crypto.SHA512: sum512[:]}

	for _, kc := range keys {
		k := kc.key
		n := prepareRSA(&k.PublicKey)
		if n == nil {
			t.Fatalf("%s: modulus not prepared", kc.name)
		}
		size := k.Size()
		for h, digest := range digests {
			sig, err := rsa.SignPKCS1v15(nil, k, h, digest)
			if err != nil {
				t.Fatal(err)
			}
			prefix := digestInfoPrefixes[h]
			ff := func(n int) []byte {
				b := make([]byte, n)
				for i := range b {
					b[i] = 0xff
				}
				return b
			}
			psLen := size - len(prefix) - len(digest) - 3
			nBytes := k.N.FillBytes(make([]byte, size))
			nPlus := func(d int64) []byte {
				return new(big.Int).Add(k.N, big.NewInt(d)).FillBytes(make([]byte, size))
			}
			flip := func(i int) []byte {
				b := append([]byte(nil), sig...)
				b[i] ^= 0x01
				return b
			}
			cases := []struct {
				name   string
				hash   crypto.Hash
				digest []byte
				sig    []byte
				valid  bool
			}{
				{name: "real", hash: h, digest: digest, sig: sig, valid: true},
				{name: "first_byte_flipped", hash: h, digest: digest, sig: flip(0)},
				{name: "middle_byte_flipped", hash: h, digest: digest, sig: flip(size / 2)},
				{name: "last_byte_flipped", hash: h, digest: digest, sig: flip(size - 1)},
				{name: "truncated", hash: h, digest: digest, sig: sig[:size-1]},
				{name: "leading_zero_added", hash: h, digest: digest, sig: append([]byte{0}, sig...)},
				{name: "empty", hash: h, digest: digest, sig: nil},
				{name: "zero", hash: h, digest: digest, sig: make([]byte, size)},
				{name: "one", hash: h, digest: digest, sig: big.NewInt(1).FillBytes(make([]byte, size))},
				{name: "modulus_minus_one", hash: h, digest: digest, sig: nPlus(-1)},
				{name: "modulus", hash: h, digest: digest, sig: nBytes},
				{name: "modulus_plus_one", hash: h, digest: digest, sig: nPlus(1)},
				{name: "all_ones", hash: h, digest: digest, sig: ff(size)},
				{name: "other_digest", hash: h, digest: append([]byte{digest[0] ^ 1}, digest[1:]...), sig: sig},
				{name: "short_digest", hash: h, digest: digest[1:], sig: sig},
				{name: "other_key", hash: h, digest: digest, sig: mustSign(t, other, h, digest)},
				{name: "block_type_2", hash: h, digest: digest, sig: rawSign(t, k, pkcs1Encoding(size, []byte{0, 2}, ff(psLen), prefix, digest))},
				{name: "padding_not_ff", hash: h, digest: digest, sig: rawSign(t, k, pkcs1Encoding(size, []byte{0, 1}, append(ff(psLen-1), 0xfe), prefix, digest))},
				{name: "padding_short_garbage_after", hash: h, digest: digest, sig: rawSign(t, k, append(pkcs1Encoding(size-8, []byte{0, 1}, ff(psLen-8), prefix, digest), ff(8)...))},
				{name: "no_separator", hash: h, digest: digest, sig: rawSign(t, k, append(append([]byte{0, 1}, ff(psLen+1)...), append(append([]byte{}, prefix...), digest...)...))},
				{name: "prefix_altered", hash: h, digest: digest, sig: rawSign(t, k, pkcs1Encoding(size, []byte{0, 1}, ff(psLen), append([]byte{0x31}, prefix[1:]...), digest))},
				{name: "correct_raw_encoding", hash: h, digest: digest, sig: rawSign(t, k, pkcs1Encoding(size, []byte{0, 1}, ff(psLen), prefix, digest)), valid: true},
			}
			for _, hh := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
				if hh != h {
					cases = append(cases, struct {
						name   string
						hash   crypto.Hash
						digest []byte
						sig    []byte
						valid  bool
					}{name: "as_" + hh.String(), hash: hh, digest: digests[hh], sig: sig})
				}
			}
			for _, tc := range cases {
				t.Run(kc.name+"/"+h.String()+"/"+tc.name, func(t *testing.T) {
					checkAgainstCryptoRSA(t, n, &k.PublicKey, tc.hash, tc.digest, tc.sig, tc.valid)
				})
			}
		}
	}
}

// A signature must be exactly as long as the modulus: one whose leading
// zero byte is dropped has the same value, and is refused all the same.
func TestPKCS1v15LengthIsExact(t *testing.T) {
	skipUnprepared(t)
	k := mustRSAKey(t, 2048)
	n := prepareRSA(&k.PublicKey)
	for i := range 4096 {
		digest := sha256.Sum256([]byte{byte(i), byte(i >> 8)})
		sig := mustSign(t, k, crypto.SHA256, digest[:])
		if sig[0] != 0 {
			continue
		}
		if !n.verifyPKCS1v15(crypto.SHA256, digest[:], sig) {
			t.Fatal("the signature did not verify")
		}
		if n.verifyPKCS1v15(crypto.SHA256, digest[:], sig[1:]) {
			t.Error("the signature verified without its leading zero byte")
		}
		return
	}
	t.Fatal("no signature with a leading zero byte in 4096 tries")
}

// Keys crypto/rsa refuses, or that this file does not handle, are left
// to crypto/rsa: no prepared modulus.
func TestPrepareRSARefuses(t *testing.T) {
	skipUnprepared(t)
	k := mustRSAKey(t, 2048)
	even := new(big.Int).Add(k.N, big.NewInt(1))
	small := mustRSAKey(t, 1024)
	tests := []struct {
		name string
		pub  *rsa.PublicKey
	}{
		{name: "even_modulus", pub: &rsa.PublicKey{N: even, E: 65537}},
		{name: "exponent_one", pub: &rsa.PublicKey{N: k.N, E: 1}},
		{name: "even_exponent", pub: &rsa.PublicKey{N: k.N, E: 65536}},
		{name: "exponent_too_large", pub: &rsa.PublicKey{N: k.N, E: 1 << 31}},
		{name: "negative_exponent", pub: &rsa.PublicKey{N: k.N, E: -3}},
		{name: "no_modulus", pub: &rsa.PublicKey{E: 65537}},
		{name: "weak_modulus", pub: &small.PublicKey},
		{name: "modulus_over_8192_bits", pub: &rsa.PublicKey{N: new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), 8200), big.NewInt(1)), E: 65537}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if prepareRSA(tc.pub) != nil {
				t.Error("modulus prepared, want nil")
			}
		})
	}
	if prepareRSA(&k.PublicKey) == nil {
		t.Error("a 2048-bit key with e=65537 was not prepared")
	}
}

// FuzzPKCS1v15 holds verifyPKCS1v15 to crypto/rsa's answer for any
// signature bytes and digest.
func FuzzPKCS1v15(f *testing.F) {
	skipUnprepared(f)
	k := keyWithExponent(f, 2048, 65537)
	n := prepareRSA(&k.PublicKey)
	realDigest := sha256.Sum256([]byte("header.payload"))
	real, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, realDigest[:])
	if err != nil {
		f.Fatal(err)
	}
	f.Add(real, realDigest[:], uint8(0))
	f.Add(real[1:], realDigest[:], uint8(4))
	f.Add(k.N.Bytes(), realDigest[:], uint8(2))
	f.Add(real[200:], []byte{}, uint8(0))
	f.Add(make([]byte, len(real)), realDigest[:], uint8(0))
	f.Fuzz(func(t *testing.T, sig, digest []byte, which uint8) {
		h := []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512}[int(which)%3]
		// Short inputs are completed with the real signature's and
		// digest's leading bytes (which&4 keeps them short), so most
		// inputs reach the arithmetic rather than the length checks.
		if which&4 == 0 {
			sig = completeFrom(real, sig)
			digest = completeFrom(realDigest[:], digest)
		}
		got := n.verifyPKCS1v15(h, digest, sig)
		std := rsa.VerifyPKCS1v15(&k.PublicKey, h, digest, sig) == nil
		if got != std {
			t.Errorf("verifyPKCS1v15 = %v, crypto/rsa = %v", got, std)
		}
	})
}

// completeFrom is b, preceded by as many of full's leading bytes as make
// it full's length (b itself when it is that long already).
func completeFrom(full, b []byte) []byte {
	if len(b) >= len(full) {
		return b
	}
	return append(append([]byte(nil), full[:len(full)-len(b)]...), b...)
}

// checkAgainstCryptoRSA fails t unless the prepared key's answer for sig
// is crypto/rsa's and is valid.
func checkAgainstCryptoRSA(t *testing.T, key *preparedRSA, pub *rsa.PublicKey, h crypto.Hash, digest, sig []byte, valid bool) {
	t.Helper()
	got := key.verifyPKCS1v15(h, digest, sig)
	std := rsa.VerifyPKCS1v15(pub, h, digest, sig) == nil
	if got != std || got != valid {
		t.Errorf("verifyPKCS1v15 = %v, crypto/rsa = %v, want %v", got, std, valid)
	}
}

// skipUnprepared skips a test of the prepared path in a build that
// leaves every RSA signature to crypto/rsa (FIPS 140 mode, BoringCrypto).
func skipUnprepared(t testing.TB) {
	t.Helper()
	if fips140.Enabled() || boringCrypto {
		t.Skip("RSA signatures are verified by crypto/rsa alone in this build")
	}
}

func mustRSAKey(t testing.TB, bits int) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustSign(t testing.TB, k *rsa.PrivateKey, h crypto.Hash, digest []byte) []byte {
	t.Helper()
	sig, err := rsa.SignPKCS1v15(nil, k, h, digest)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}
