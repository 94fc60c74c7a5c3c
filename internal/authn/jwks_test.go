package authn

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// jwkJSON is the public JWK of key with fields set (or removed, for "").
func jwkJSON(t *testing.T, key any, fields map[string]string) map[string]any {
	t.Helper()
	pub, err := jwk.PublicKeyOf(key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(pub)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range fields {
		if v == "" {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	return m
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func jwksOf(t *testing.T, keys ...map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseKeySet: a JWKS becomes the public signature keys it holds;
// symmetric, encryption-only (by use or key_ops) and weak RSA keys are skipped, and a set with
// a kid twice or no usable key is refused.
func TestParseKeySet(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	weakKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsa1 := jwkJSON(t, rsaKey, map[string]string{"kid": "rsa-1", "use": "sig", "alg": "RS256"})
	ec1 := jwkJSON(t, ecKey, map[string]string{"kid": "ec-1", "alg": "ES256"})
	ed1 := jwkJSON(t, edKey, map[string]string{"kid": "ed-1"})
	noKID := jwkJSON(t, rsaKey, map[string]string{"kid": "", "use": "sig"})
	// Built by hand: jwx refuses to export so small a key itself.
	weak := map[string]any{"kty": "RSA", "kid": "weak-1", "use": "sig", "alg": "RS256",
		"n": base64.RawURLEncoding.EncodeToString(weakKey.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(weakKey.E)).Bytes())}
	enc := jwkJSON(t, rsaKey, map[string]string{"kid": "enc-1", "use": "enc"})
	oct := map[string]any{"kty": "oct", "kid": "oct-1", "k": "c2VjcmV0"}
	encOps := jwkJSON(t, rsaKey, map[string]string{"kid": "enc-ops-1"})
	encOps["key_ops"] = []string{"encrypt", "wrapKey"}
	verifyOps := jwkJSON(t, rsaKey, map[string]string{"kid": "verify-ops-1", "alg": "RS256"})
	verifyOps["key_ops"] = []string{"verify"}
	// An empty use and a null key_ops say nothing; key_ops [] allows nothing.
	useEmpty := jwkJSON(t, rsaKey, map[string]string{"kid": "use-empty-1"})
	useEmpty["use"] = ""
	opsNull := jwkJSON(t, rsaKey, map[string]string{"kid": "ops-null-1"})
	opsNull["key_ops"] = nil
	opsEmpty := jwkJSON(t, rsaKey, map[string]string{"kid": "ops-empty-1"})
	opsEmpty["key_ops"] = []string{}

	tests := []struct {
		name     string
		body     []byte
		wantKIDs []string // the keys kept, in order, by kid ("" for none); nil: refused
		wantAlgs []string // their pinned algorithms, in the same order
		wantErr  string   // for a refused set, a substring of the error
	}{
		{name: "rsa_ec_ed25519", body: jwksOf(t, rsa1, ec1, ed1),
			wantKIDs: []string{"rsa-1", "ec-1", "ed-1"}, wantAlgs: []string{"RS256", "ES256", ""}},
		{name: "key_without_kid", body: jwksOf(t, noKID), wantKIDs: []string{""}, wantAlgs: []string{""}},
		{name: "unusable_keys_skipped", body: jwksOf(t, oct, enc, rsa1),
			wantKIDs: []string{"rsa-1"}, wantAlgs: []string{"RS256"}},
		{name: "only_symmetric_key", body: jwksOf(t, oct), wantErr: "no usable signing key"},
		// A weak RSA key is skipped like any unusable key: the set's good
		// keys still serve (one legacy key must not take the provider down).
		{name: "weak_rsa_key_skipped", body: jwksOf(t, weak, rsa1), wantKIDs: []string{"rsa-1"}, wantAlgs: []string{"RS256"}},
		{name: "only_weak_rsa_key", body: jwksOf(t, weak), wantErr: "1024 bits"},
		{name: "single_key_not_a_set", body: mustJSON(t, rsa1), wantErr: "not a JWK set"},
		{name: "only_encryption_key", body: jwksOf(t, enc), wantErr: `use "enc" is not sig`},
		{name: "key_ops_without_verify", body: jwksOf(t, encOps), wantErr: "do not include verify"},
		{name: "key_ops_verify", body: jwksOf(t, encOps, verifyOps), wantKIDs: []string{"verify-ops-1"}, wantAlgs: []string{"RS256"}},
		{name: "duplicate_kid", body: jwksOf(t, rsa1, jwkJSON(t, ecKey, map[string]string{"kid": "rsa-1"})), wantErr: `duplicate kid "rsa-1"`},
		{name: "empty_key_list", body: []byte(`{"keys":[]}`), wantErr: "the key list is empty"},
		{name: "use_empty_says_nothing", body: jwksOf(t, useEmpty), wantKIDs: []string{"use-empty-1"}, wantAlgs: []string{""}},
		{name: "key_ops_null_says_nothing", body: jwksOf(t, opsNull), wantKIDs: []string{"ops-null-1"}, wantAlgs: []string{""}},
		{name: "key_ops_empty_allows_nothing", body: jwksOf(t, opsEmpty), wantErr: "do not include verify"},
		{name: "not_json", body: []byte("keys: none"), wantErr: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			idx, err := parseKeySet(tc.body)
			if tc.wantKIDs == nil {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseKeySet() = %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseKeySet() = %v, want success", err)
			}
			if len(idx.all) != len(tc.wantKIDs) {
				t.Fatalf("parseKeySet() kept %d keys, want %d", len(idx.all), len(tc.wantKIDs))
			}
			for i, key := range idx.all {
				if key.kid != tc.wantKIDs[i] || key.alg != tc.wantAlgs[i] {
					t.Errorf("key %d = kid %q alg %q, want kid %q alg %q", i, key.kid, key.alg, tc.wantKIDs[i], tc.wantAlgs[i])
				}
				if key.kid != "" && idx.byKID[key.kid] != key {
					t.Errorf("byKID[%q] is not key %d", key.kid, i)
				}
			}
			if want := len(tc.wantKIDs) - countEmpty(tc.wantKIDs); len(idx.byKID) != want {
				t.Errorf("byKID holds %d keys, want %d", len(idx.byKID), want)
			}
		})
	}
}

func countEmpty(ss []string) int {
	n := 0
	for _, s := range ss {
		if s == "" {
			n++
		}
	}
	return n
}

// A set without a usable key is the provider's word (errNoSigningKeys,
// which revokes keys in use) when its keys are of kinds this verifier does
// not use, and garbage when a key is broken.
func TestParseKeySetRevokesOnlyOnTheProvidersWord(t *testing.T) {
	weakKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	n := weakKey.N.Bytes()
	e := big.NewInt(int64(weakKey.E)).Bytes()
	tests := []struct {
		name    string
		key     map[string]any
		revokes bool
	}{
		{name: "weak_rsa", key: map[string]any{"kty": "RSA", "n": base64.RawURLEncoding.EncodeToString(n), "e": base64.RawURLEncoding.EncodeToString(e)}, revokes: true},
		{name: "weak_rsa_standard_padded", key: map[string]any{"kty": "RSA", "n": base64.StdEncoding.EncodeToString(n), "e": base64.StdEncoding.EncodeToString(e)}, revokes: true},
		{name: "weak_rsa_url_padded", key: map[string]any{"kty": "RSA", "n": base64.URLEncoding.EncodeToString(n), "e": base64.URLEncoding.EncodeToString(e)}, revokes: true},
		{name: "secp256k1", key: map[string]any{"kty": "EC", "crv": "secp256k1", "x": "AAAA", "y": "AAAA"}, revokes: true},
		{name: "x25519", key: map[string]any{"kty": "OKP", "crv": "X25519", "x": "AAAA"}, revokes: true},
		{name: "unknown_kty", key: map[string]any{"kty": "AKP", "alg": "ML-DSA-44", "pub": "AAAA"}, revokes: true},
		{name: "symmetric", key: map[string]any{"kty": "oct", "k": "c2VjcmV0"}, revokes: true},
		{name: "encryption_use", key: map[string]any{"kty": "RSA", "use": "enc", "n": "!!!", "e": "AQAB"}, revokes: true},
		{name: "modulus_not_base64", key: map[string]any{"kty": "RSA", "n": "!!!", "e": "AQAB"}},
		{name: "no_kty", key: map[string]any{"n": "AQAB"}},
		{name: "kty_not_a_string", key: map[string]any{"kty": 7}},
		{name: "p256_bad_point", key: map[string]any{"kty": "EC", "crv": "P-256", "x": "!!!", "y": "!!!"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseKeySet(jwksOf(t, tc.key))
			if err == nil {
				t.Fatal("parseKeySet() = nil error, want no usable key")
			}
			if got := errors.Is(err, errNoSigningKeys); got != tc.revokes {
				t.Errorf("parseKeySet() = %v: revokes %v, want %v", err, got, tc.revokes)
			}
		})
	}
}

// use and key_ops are read whatever the types of the key's other members:
// a usable RSA key that says it is not for signatures is never kept.
func TestParseKeySetReadsUsageWhateverElseTheKeyHolds(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		extra map[string]any
		kept  bool
	}{
		{name: "plain", kept: true},
		{name: "use_enc_beside_an_odd_member", extra: map[string]any{"use": "enc", "crv": 5}},
		{name: "use_not_a_string", extra: map[string]any{"use": 5}},
		{name: "use_true", extra: map[string]any{"use": true}},
		{name: "key_ops_not_a_list", extra: map[string]any{"key_ops": "verify"}},
		{name: "key_ops_without_verify_beside_an_odd_member", extra: map[string]any{"key_ops": []any{"encrypt", 7}, "crv": 5}},
		{name: "key_ops_verify_beside_an_odd_member", extra: map[string]any{"key_ops": []any{"verify"}, "crv": 5}, kept: true},
		{name: "key_ops_encrypt_beside_an_odd_member", extra: map[string]any{"key_ops": []any{"encrypt"}, "crv": 5}},
		// Member names are case-sensitive (RFC 7517): USE is not use.
		{name: "use_enc_with_USE_sig", extra: map[string]any{"use": "enc", "USE": "sig"}},
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		for kind, pub := range map[string]any{"rsa": rsaKey, "ec": ecKey} {
			t.Run(tc.name+"/"+kind, func(t *testing.T) {
				key := jwkJSON(t, pub, map[string]string{"kid": "k1"})
				for k, v := range tc.extra {
					key[k] = v
				}
				if kind == "ec" && tc.extra["crv"] != nil {
					key["n"] = 5 // the odd member an EC key can carry
					key["crv"] = "P-256"
				}
				idx, err := parseKeySet(jwksOf(t, key))
				if kept := err == nil && len(idx.all) == 1; kept != tc.kept {
					t.Errorf("parseKeySet() = %v: kept %v, want %v", err, kept, tc.kept)
				}
			})
		}
	}
}
