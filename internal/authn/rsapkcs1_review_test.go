package authn

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"math/big"
	"sync"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwa"
)

// multiPrimeKey is an RSA key of exactly bits bits whose modulus is the
// product of primes of about primeBits bits each: a large modulus (up to
// the 8192 bits verifyPKCS1v15 handles) without the cost of generating two
// huge primes. The last prime is drawn from the interval that makes the
// product exactly bits long. Only its public half and rawSign are used.
func multiPrimeKey(t testing.TB, bits, primeBits int) *rsa.PrivateKey {
	t.Helper()
	E := big.NewInt(65537)
	one := big.NewInt(1)
	for range 20 {
		n, phi := big.NewInt(1), big.NewInt(1)
		for range bits/primeBits - 1 {
			p, err := rand.Prime(rand.Reader, primeBits)
			if err != nil {
				t.Fatal(err)
			}
			n.Mul(n, p)
			phi.Mul(phi, new(big.Int).Sub(p, one))
		}
		// The last prime p in [2^(bits-1)/n, 2^bits/n): a random odd start,
		// then the next prime, at most 4096 odd steps on.
		lo := new(big.Int).Div(new(big.Int).Lsh(one, uint(bits-1)), n)
		lo.Add(lo, one)
		width := new(big.Int).Sub(new(big.Int).Div(new(big.Int).Lsh(one, uint(bits)), n), lo)
		off, err := rand.Int(rand.Reader, width)
		if err != nil {
			t.Fatal(err)
		}
		p := new(big.Int).Add(lo, off)
		p.SetBit(p, 0, 1)
		for range 4096 {
			if p.ProbablyPrime(20) {
				break
			}
			p.Add(p, big.NewInt(2))
		}
		if !p.ProbablyPrime(20) {
			continue
		}
		n.Mul(n, p)
		phi.Mul(phi, new(big.Int).Sub(p, one))
		if n.BitLen() != bits {
			continue
		}
		d := new(big.Int).ModInverse(E, phi)
		if d == nil {
			continue
		}
		return &rsa.PrivateKey{PublicKey: rsa.PublicKey{N: n, E: 65537}, D: d}
	}
	t.Fatalf("no %d-bit modulus from %d-bit primes in 20 tries", bits, primeBits)
	return nil
}

// validEncoding is the EMSA-PKCS1-v1_5 encoding of digest for a k-byte
// modulus, as a signer makes it.
func validEncoding(k int, h crypto.Hash, digest []byte) []byte {
	prefix := digestInfoPrefixes[h]
	ps := make([]byte, k-len(prefix)-len(digest)-3)
	for i := range ps {
		ps[i] = 0xff
	}
	return pkcs1Encoding(k, []byte{0, 1}, ps, prefix, digest)
}

// TestPKCS1v15ReviewEdges holds verifyPKCS1v15 to crypto/rsa at the edges
// the main test leaves out: a modulus whose length is not a whole number
// of bytes or limbs, the largest modulus prepared (its encoding fills the
// fixed buffer exactly), and an encoding that is right in every byte but
// the leading one.
func TestPKCS1v15ReviewEdges(t *testing.T) {
	skipUnprepared(t)
	msg := []byte("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0")
	sum256, sum512 := sha256.Sum256(msg), sha512.Sum512(msg)
	keys := []struct {
		name  string
		key   *rsa.PrivateKey
		hash  crypto.Hash
		sum   []byte
		bytes int
	}{
		{name: "2050_bits", key: keyWithExponent(t, 2050, 65537), hash: crypto.SHA256, sum: sum256[:], bytes: 257},
		{name: "2114_bits", key: keyWithExponent(t, 2114, 3), hash: crypto.SHA512, sum: sum512[:], bytes: 265},
		{name: "8192_bits", key: multiPrimeKey(t, 8192, 1024), hash: crypto.SHA512, sum: sum512[:], bytes: maxPreparedRSABytes},
	}
	for _, kc := range keys {
		k := kc.key
		n := prepareRSA(&k.PublicKey)
		if n == nil || n.n.Size() != kc.bytes {
			t.Fatalf("%s: modulus not prepared as %d bytes", kc.name, kc.bytes)
		}
		good := validEncoding(kc.bytes, kc.hash, kc.sum)
		leadOne := append([]byte{0x01}, good[1:]...)
		sig := rawSign(t, k, good)
		cases := []struct {
			name  string
			sig   []byte
			valid bool
		}{
			{name: "valid", sig: sig, valid: true},
			{name: "leading_byte_one", sig: rawSign(t, k, leadOne)},
			{name: "modulus_minus_one", sig: new(big.Int).Sub(k.N, big.NewInt(1)).FillBytes(make([]byte, kc.bytes))},
			{name: "modulus", sig: k.N.FillBytes(make([]byte, kc.bytes))},
			{name: "one_byte_short", sig: sig[1:]},
		}
		for _, tc := range cases {
			t.Run(kc.name+"/"+tc.name, func(t *testing.T) {
				checkAgainstCryptoRSA(t, n, &k.PublicKey, kc.hash, kc.sum, tc.sig, tc.valid)
			})
		}
	}
}

// TestVerifySignaturePreparedExponent checks that verifySignature hands
// the key's own exponent to the prepared path: a key with e=3 verifies its
// real RS256 signature there, and another key's does not.
func TestVerifySignaturePreparedExponent(t *testing.T) {
	skipUnprepared(t)
	k3 := keyWithExponent(t, 2048, 3)
	other := mustRSAKey(t, 2048)
	input := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0"
	digest := sha256.Sum256([]byte(input))
	enc := base64.RawURLEncoding.EncodeToString
	key := keyFor(&k3.PublicKey, true)
	if key.rsa == nil {
		t.Fatal("the e=3 key was not prepared")
	}
	tests := []struct {
		name  string
		sig   []byte
		valid bool
	}{
		{name: "own_signature", sig: mustSign(t, k3, crypto.SHA256, digest[:]), valid: true},
		{name: "other_key_signature", sig: mustSign(t, other, crypto.SHA256, digest[:])},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := verifySignature(key, jwa.RS256(), input, enc(tc.sig)); got != tc.valid {
				t.Errorf("verifySignature = %v, want %v", got, tc.valid)
			}
		})
	}
}

// TestPKCS1v15SharedModulus verifies with one prepared modulus from
// several goroutines at once (run with -race): the modulus is read-only
// after prepareRSA, so every answer stays right.
func TestPKCS1v15SharedModulus(t *testing.T) {
	skipUnprepared(t)
	k := mustRSAKey(t, 2048)
	n := prepareRSA(&k.PublicKey)
	const workers, rounds = 8, 16
	type signed struct {
		digest, sig []byte
	}
	sigs := make([]signed, workers)
	for i := range sigs {
		d := sha256.Sum256([]byte{byte(i)})
		sigs[i] = signed{digest: d[:], sig: mustSign(t, k, crypto.SHA256, d[:])}
	}
	var wg sync.WaitGroup
	errs := make(chan string, workers*rounds*2)
	for w := range workers {
		wg.Go(func() {
			own, next := sigs[w], sigs[(w+1)%workers]
			for range rounds {
				if !n.verifyPKCS1v15(crypto.SHA256, own.digest, own.sig) {
					errs <- "a real signature did not verify"
				}
				if n.verifyPKCS1v15(crypto.SHA256, own.digest, next.sig) {
					errs <- "another digest's signature verified"
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
