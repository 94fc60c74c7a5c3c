package authn_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/authn/authntest"
)

// attackLab is a real identity provider whose JWKS holds the RSA key
// "key-1" (alg RS256), an EC P-256 key "ec-1" (alg ES256) and a symmetric
// key "oct-1" (which must never be used), plus an attacker with keys of
// their own and a web server that counts every request it receives: the
// URLs forged headers point at.
type attackLab struct {
	p        *authntest.Provider
	ec       *ecdsa.PrivateKey
	oct      []byte
	attacker *authntest.Key
	evilEC   *ecdsa.PrivateKey
	evilURL  string
	evilHits *atomic.Int64
	keys     *authn.KeySet
	jwks     []byte // the JWKS exactly as served
}

func newAttackLab(t *testing.T) *attackLab {
	t.Helper()
	lab := &attackLab{p: authntest.NewProvider(t), attacker: authntest.NewKey(t, "attacker"), evilHits: new(atomic.Int64)}
	var err error
	if lab.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	if lab.evilEC, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	lab.oct = []byte("a-shared-secret-published-in-the-jwks-by-mistake!!")

	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(authntest.JWKS(lab.p.Key()), &set); err != nil {
		t.Fatal(err)
	}
	ecJWK, err := jwk.Import(&lab.ec.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	ecJWK.Set(jwk.KeyIDKey, "ec-1")
	ecJWK.Set(jwk.AlgorithmKey, jwa.ES256())
	ecJWK.Set(jwk.KeyUsageKey, "sig")
	octJSON, _ := json.Marshal(map[string]string{"kty": "oct", "kid": "oct-1", "alg": "HS256", "use": "sig", "k": base64.RawURLEncoding.EncodeToString(lab.oct)})
	ecJSON, _ := json.Marshal(ecJWK)
	set.Keys = append(set.Keys, ecJSON, octJSON)
	lab.jwks, _ = json.Marshal(set)
	lab.p.SetHandler(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(lab.jwks)
	})

	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lab.evilHits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write(authntest.JWKS(lab.attacker))
	}))
	t.Cleanup(evil.Close)
	lab.evilURL = evil.URL

	lab.keys = authn.NewKeySet(authn.KeySetConfig{JWKSURL: lab.p.JWKSURL()})
	authntest.StartKeys(t, lab.keys)
	return lab
}

// verifier accepts RS256, PS256 and ES256: a wider allow-list than the
// default, so that rows refused by a key's own alg or type are refused for
// that reason and not merely by the list.
func (lab *attackLab) verifier(t *testing.T, cacheSize int) *authn.Verifier {
	t.Helper()
	v, err := authn.NewVerifier(lab.keys, authn.VerifierConfig{
		Issuer: lab.p.Issuer, Audience: authntest.Audience, Algorithms: []string{"RS256", "PS256", "ES256"},
		ClockSkew: 30 * time.Second, CacheSize: cacheSize,
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// unsigned is the signing input "header.payload" of arbitrary header and
// claims (maps are JSON-encoded, []byte is used as is).
func unsigned(t *testing.T, header, claims any) string {
	t.Helper()
	return authntest.Segment(t, header) + "." + authntest.Segment(t, claims)
}

// signJWS signs input with a real key under alg, the way an honest signer
// would, whatever the header claims.
func signJWS(t *testing.T, alg jwa.SignatureAlgorithm, key any, input string) []byte {
	t.Helper()
	signer, err := jws.SignerFor(alg)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := signer.Sign(key, []byte(input))
	if err != nil {
		t.Fatalf("sign %s: %v", alg, err)
	}
	return sig
}

func hmacSig(alg string, secret []byte, input string) []byte {
	h := map[string]func() hash.Hash{"HS256": sha256.New, "HS384": sha512.New384, "HS512": sha512.New}[alg]
	m := hmac.New(h, secret)
	m.Write([]byte(input))
	return m.Sum(nil)
}

// publicKeyEncodings are the forms in which an attacker may find the RSA
// public key and try it as an HMAC secret (the classic RS256 -> HS256
// key-confusion attack, CVE-2015-9235 and its kin).
func (lab *attackLab) publicKeyEncodings(t *testing.T) map[string][]byte {
	t.Helper()
	pub := &lab.p.Key().Private.PublicKey
	pkix, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := x509.MarshalPKCS1PublicKey(pub)
	pemPKIX := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix})
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	json.Unmarshal(lab.jwks, &set)
	var rsaJWK struct {
		N string `json:"n"`
	}
	json.Unmarshal(set.Keys[0], &rsaJWK)
	ecPKIX, _ := x509.MarshalPKIXPublicKey(&lab.ec.PublicKey)
	return map[string][]byte{
		"pem_pkix":            pemPKIX,
		"pem_pkix_no_newline": []byte(strings.TrimSpace(string(pemPKIX))),
		"pem_pkcs1":           pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: pkcs1}),
		"der_pkix":            pkix,
		"der_pkcs1":           pkcs1,
		"modulus":             pub.N.Bytes(),
		"modulus_base64url":   []byte(rsaJWK.N),
		"jwk_json":            set.Keys[0],
		"jwks_json":           lab.jwks,
		"ec_pem_pkix":         pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecPKIX}),
	}
}

// attack is one row of the catalogue: a token and the reason it must be
// refused for (a substring of the description), or "" for the controls
// that must verify, so that a refusal is never merely a broken setup.
type attack struct {
	name  string
	token string
	want  string
}

// catalogue mints every attack against lab's keys. shellMark is a file that
// a kid executed by a shell would create.
func (lab *attackLab) catalogue(t *testing.T, shellMark string) []attack {
	t.Helper()
	p := lab.p
	key := p.Key()
	claims := p.Claims()
	rsHeader := map[string]any{"alg": "RS256", "typ": "JWT", "kid": "key-1"}
	valid := authntest.Sign(t, key, claims)
	signedPart := valid[:strings.LastIndexByte(valid, '.')]
	validSig, _ := base64.RawURLEncoding.DecodeString(valid[len(signedPart)+1:])
	h64, p64, _ := strings.Cut(signedPart, ".")
	with := func(name string, v any) map[string]any {
		c := p.Claims()
		if v == nil {
			delete(c, name)
		} else {
			c[name] = v
		}
		return c
	}
	// rs signs claims with the trusted key under header: a real signature,
	// so the row is refused for what the header or claims say.
	rs := func(header map[string]any, claims any) string {
		return authntest.SignWithHeader(t, key, header, claims)
	}
	rsClaims := func(c any) string { return rs(rsHeader, c) }
	withSig := func(input string, sig []byte) string { return input + "." + b64(sig) }
	es := func(header map[string]any, c any, k *ecdsa.PrivateKey) string {
		in := unsigned(t, header, c)
		return withSig(in, signJWS(t, jwa.ES256(), k, in))
	}
	now := time.Now()

	rows := []attack{
		// Controls: the lab's real keys work, so every refusal below is
		// the attack's doing.
		{"control_rs256", valid, ""},
		{"control_rs256_no_kid", rs(map[string]any{"alg": "RS256"}, claims), ""},
		{"control_es256", es(map[string]any{"alg": "ES256", "kid": "ec-1"}, claims, lab.ec), ""},
		{"control_multiple_spaces_in_json", rs(rsHeader, []byte(fmt.Sprintf(` { "iss" : %q , "aud" : %q , "exp" : %d } `, p.Issuer, authntest.Audience, now.Add(time.Hour).Unix()))), ""},
	}

	// alg "none", in every spelling, with and without a signature.
	for _, none := range []string{"none", "None", "NONE", "nOnE"} {
		h := map[string]any{"alg": none, "typ": "JWT"}
		hk := map[string]any{"alg": none, "kid": "key-1"}
		rows = append(rows,
			attack{"alg_" + none + "_no_signature", unsigned(t, h, claims) + ".", "token is unsigned"},
			attack{"alg_" + none + "_no_signature_no_dot", unsigned(t, h, claims), "not a signed JWT"},
			attack{"alg_" + none + "_with_rs256_signature", withSig(unsigned(t, hk, claims), signJWS(t, jwa.RS256(), key.Private, unsigned(t, hk, claims))), fmt.Sprintf("algorithm %q is not accepted", none)},
			attack{"alg_" + none + "_with_garbage_signature", unsigned(t, h, claims) + ".AAAA", fmt.Sprintf("algorithm %q is not accepted", none)},
		)
	}
	rows = append(rows,
		attack{"alg_missing", withSig(unsigned(t, map[string]any{"kid": "key-1"}, claims), validSig), `no "alg"`},
		attack{"alg_empty", withSig(unsigned(t, map[string]any{"alg": "", "kid": "key-1"}, claims), validSig), `no "alg"`},
		attack{"alg_number", withSig(unsigned(t, map[string]any{"alg": 256, "kid": "key-1"}, claims), validSig), "not a JSON object"},
		attack{"alg_array", withSig(unsigned(t, map[string]any{"alg": []string{"RS256"}, "kid": "key-1"}, claims), validSig), "not a JSON object"},
		attack{"alg_lower_case_rs256", rs(map[string]any{"alg": "rs256", "kid": "key-1"}, claims), `algorithm "rs256" is not accepted`},
		attack{"alg_rs256_trailing_space", rs(map[string]any{"alg": "RS256 ", "kid": "key-1"}, claims), `algorithm "RS256 " is not accepted`},
		// A long alg is cut for the description before a character, never inside one.
		attack{"alg_long_multibyte", rs(map[string]any{"alg": "RS256" + strings.Repeat("é", 10), "kid": "key-1"}, claims), `algorithm "RS256ééééé..." is not accepted`},
	)

	// HS256/384/512 signed with the public key as the HMAC secret, in every
	// encoding, with and without the RSA key's kid; and with the oct key
	// that the JWKS wrongly publishes.
	for enc, secret := range lab.publicKeyEncodings(t) {
		for _, alg := range []string{"HS256", "HS384", "HS512"} {
			for _, kid := range []string{"key-1", ""} {
				h := map[string]any{"alg": alg, "typ": "JWT"}
				name := strings.ToLower(alg) + "_" + enc
				if kid != "" {
					h["kid"] = kid
					name += "_with_kid"
				}
				in := unsigned(t, h, claims)
				rows = append(rows, attack{name, withSig(in, hmacSig(alg, secret, in)), fmt.Sprintf("algorithm %q is not accepted", alg)})
			}
		}
	}
	for _, alg := range []string{"HS256", "HS384", "HS512"} {
		in := unsigned(t, map[string]any{"alg": alg, "kid": "oct-1"}, claims)
		rows = append(rows, attack{strings.ToLower(alg) + "_with_oct_key_from_jwks", withSig(in, hmacSig(alg, lab.oct, in)), "is not accepted"})
	}
	pemIn := unsigned(t, rsHeader, claims)
	rows = append(rows, attack{"rs256_header_hmac_signature", withSig(pemIn, hmacSig("HS256", lab.publicKeyEncodings(t)["pem_pkix"], pemIn)), "signature is invalid"})
	// Duplicate "alg" members: Go's JSON decoder keeps the last one; the
	// token is refused whichever one a parser believes.
	pemSecret := lab.publicKeyEncodings(t)["pem_pkix"]
	dupHS := authntest.Segment(t, []byte(`{"alg":"RS256","alg":"HS256","kid":"key-1"}`)) + "." + authntest.Segment(t, claims)
	dupRS := authntest.Segment(t, []byte(`{"alg":"HS256","alg":"RS256","kid":"key-1"}`)) + "." + authntest.Segment(t, claims)
	rows = append(rows,
		attack{"duplicate_alg_hs256_last", withSig(dupHS, hmacSig("HS256", pemSecret, dupHS)), `algorithm "HS256" is not accepted`},
		attack{"duplicate_alg_rs256_last", withSig(dupRS, hmacSig("HS256", pemSecret, dupRS)), "signature is invalid"},
	)

	// Signatures stripped, truncated, zeroed, altered or foreign.
	other := authntest.NewKey(t, "key-1")
	flipped := append([]byte(nil), validSig...)
	flipped[len(flipped)/2] ^= 0x01
	one := make([]byte, len(validSig))
	one[len(one)-1] = 1
	nMinus1 := new(big.Int).Sub(key.Private.N, big.NewInt(1)).FillBytes(make([]byte, len(validSig)))
	otherToken := p.Token(t, map[string]any{"sub": "auth0|mallory", "scope": "read:messages"})
	rows = append(rows,
		attack{"signature_stripped", signedPart + ".", "token is unsigned"},
		attack{"signature_stripped_no_dot", signedPart, "not a signed JWT"},
		attack{"signature_truncated_by_one_byte", withSig(signedPart, validSig[:len(validSig)-1]), "signature is invalid"},
		attack{"signature_truncated_to_half", withSig(signedPart, validSig[:len(validSig)/2]), "signature is invalid"},
		attack{"signature_truncated_by_one_char", valid[:len(valid)-1], "signature is invalid"},
		attack{"signature_zeroed", withSig(signedPart, make([]byte, len(validSig))), "signature is invalid"},
		attack{"signature_one", withSig(signedPart, one), "signature is invalid"},
		attack{"signature_n_minus_one", withSig(signedPart, nMinus1), "signature is invalid"},
		attack{"signature_bit_flipped", withSig(signedPart, flipped), "signature is invalid"},
		attack{"signature_extended", withSig(signedPart, append(append([]byte(nil), validSig...), 0)), "signature is invalid"},
		attack{"signature_leading_zero", withSig(signedPart, append([]byte{0}, validSig...)), "signature is invalid"},
		attack{"signature_foreign_key_same_kid", authntest.Sign(t, other, claims), "signature is invalid"},
		attack{"signature_foreign_key_no_kid", authntest.SignWithHeader(t, other, map[string]any{"alg": "RS256"}, claims), "signature is invalid"},
		attack{"signature_transplanted", signedPart + otherToken[strings.LastIndexByte(otherToken, '.'):], "signature is invalid"},
		attack{"claims_swapped", h64 + "." + authntest.Segment(t, with("sub", "auth0|root")) + "." + b64(validSig), "signature is invalid"},
	)

	// Key ids: unknown, or crafted for a server that would use the kid as
	// a path, an SQL value, a shell word or a URL.
	for _, k := range []struct{ name, kid string }{
		{"kid_unknown", "key-2"},
		{"kid_upper_case", "KEY-1"},
		{"kid_trailing_space", "key-1 "},
		{"kid_nul_byte", "key-1\x00"},
		{"kid_path_traversal", "../../../../../../etc/passwd"},
		{"kid_path_traversal_to_known", "../key-1"},
		{"kid_path_dev_null", "/dev/null"},
		{"kid_path_encoded", "..%2F..%2Fetc%2Fpasswd"},
		{"kid_sql_or_true", "' OR '1'='1"},
		{"kid_sql_comment", "key-1' --"},
		{"kid_sql_union", "x' UNION SELECT 'secret' --"},
		{"kid_shell_subst", "$(touch " + shellMark + ")"},
		{"kid_shell_backticks", "`touch " + shellMark + "`"},
		{"kid_shell_semicolon", "key-1; touch " + shellMark},
		{"kid_shell_pipe", "key-1 | touch " + shellMark},
		{"kid_url", lab.evilURL + "/jwks.json"},
		{"kid_long", strings.Repeat("k", 1000)},
	} {
		rows = append(rows, attack{k.name, rs(map[string]any{"alg": "RS256", "kid": k.kid}, claims), "signing key not found"})
	}
	rows = append(rows,
		attack{"kid_number", withSig(unsigned(t, map[string]any{"alg": "RS256", "kid": 1}, claims), validSig), "not a JSON object"},
		attack{"kid_object", withSig(unsigned(t, map[string]any{"alg": "RS256", "kid": map[string]any{"$ne": ""}}, claims), validSig), "not a JSON object"},
		attack{"kid_of_symmetric_key", rs(map[string]any{"alg": "RS256", "kid": "oct-1"}, claims), "signing key not found"},
	)

	// Keys carried in the token itself: jwk, jku, x5u, x5c. Each is signed by
	// the attacker's key, which the URLs and the embedded key vouch for.
	evilJWK, err := jwk.Import(&lab.attacker.Private.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	evilJWK.Set(jwk.KeyIDKey, "attacker")
	evilECJWK, _ := jwk.Import(&lab.evilEC.PublicKey)
	cert := selfSigned(t, lab.attacker)
	evil := func(header map[string]any) string { return authntest.SignWithHeader(t, lab.attacker, header, claims) }
	for _, kid := range []string{"attacker", "key-1", ""} {
		suffix := "_kid_" + kid
		want := "signing key not found"
		switch kid {
		case "":
			suffix, want = "_no_kid", "signature is invalid"
		case "key-1":
			want = "signature is invalid"
		}
		h := func(name string, v any) map[string]any {
			m := map[string]any{"alg": "RS256", name: v}
			if kid != "" {
				m["kid"] = kid
			}
			return m
		}
		rows = append(rows,
			attack{"embedded_jwk" + suffix, evil(h("jwk", evilJWK)), want},
			attack{"jku" + suffix, evil(h("jku", lab.evilURL+"/jwks.json")), want},
			attack{"x5u" + suffix, evil(h("x5u", lab.evilURL+"/cert.pem")), want},
			attack{"x5c" + suffix, evil(h("x5c", []string{base64.StdEncoding.EncodeToString(cert)})), want},
		)
	}
	rows = append(rows,
		attack{"embedded_jwk_es256_kid_ec-1", es(map[string]any{"alg": "ES256", "kid": "ec-1", "jwk": evilECJWK}, claims, lab.evilEC), "signature is invalid"},
		attack{"jku_with_all_of_them", evil(map[string]any{"alg": "RS256", "kid": "attacker", "jku": lab.evilURL + "/a", "x5u": lab.evilURL + "/b", "jwk": evilJWK, "x5c": []string{base64.StdEncoding.EncodeToString(cert)}}), "signing key not found"},
	)

	// crit and b64: extensions a verifier must understand or refuse.
	rows = append(rows,
		attack{"crit_unknown", rs(map[string]any{"alg": "RS256", "kid": "key-1", "crit": []string{"urn:example:policy"}, "urn:example:policy": true}, claims), `"crit"`},
		attack{"crit_registered_name", rs(map[string]any{"alg": "RS256", "kid": "key-1", "crit": []string{"exp"}, "exp": 1}, claims), `"crit"`},
		attack{"crit_b64_false", rs(map[string]any{"alg": "RS256", "kid": "key-1", "crit": []string{"b64"}, "b64": false}, claims), `"crit"`},
		attack{"crit_empty", rs(map[string]any{"alg": "RS256", "kid": "key-1", "crit": []string{}}, claims), `"crit"`},
		attack{"crit_null", rs(map[string]any{"alg": "RS256", "kid": "key-1", "crit": nil}, claims), `"crit"`},
		// Signed over the encoded payload: honouring b64 would change what was
		// signed, ignoring it would read a header as saying nothing. Refused.
		attack{"b64_false_without_crit", rs(map[string]any{"alg": "RS256", "kid": "key-1", "b64": false}, claims), `"b64"`},
		attack{"b64_true_without_crit", rs(map[string]any{"alg": "RS256", "kid": "key-1", "b64": true}, claims), `"b64"`},
	)

	// ECDSA: "psychic signatures" (CVE-2022-21449: r = s = 0 verified in
	// Java 15-18), values equal to the curve order, and key confusion.
	order := elliptic.P256().Params().N
	ecIn := unsigned(t, map[string]any{"alg": "ES256", "kid": "ec-1"}, claims)
	ecSig := signJWS(t, jwa.ES256(), lab.ec, ecIn)
	rsBytes := func(r, s *big.Int) []byte {
		b := make([]byte, 64)
		r.FillBytes(b[:32])
		s.FillBytes(b[32:])
		return b
	}
	derSig := func() []byte {
		r, s := new(big.Int).SetBytes(ecSig[:32]), new(big.Int).SetBytes(ecSig[32:])
		der, err := asn1Sig(r, s)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}()
	rows = append(rows,
		attack{"es256_psychic_zero_signature", withSig(ecIn, make([]byte, 64)), "signature is invalid"},
		attack{"es256_psychic_zero_signature_no_kid", withSig(unsigned(t, map[string]any{"alg": "ES256"}, claims), make([]byte, 64)), "signature is invalid"},
		attack{"es256_r_s_curve_order", withSig(ecIn, rsBytes(order, order)), "signature is invalid"},
		attack{"es256_r_zero_s_one", withSig(ecIn, rsBytes(big.NewInt(0), big.NewInt(1))), "signature is invalid"},
		attack{"es256_s_negated", withSig(ecIn, rsBytes(new(big.Int).SetBytes(ecSig[:32]), new(big.Int).Sub(order, new(big.Int).SetBytes(ecSig[32:])))), ""},
		attack{"es256_der_encoded_signature", withSig(ecIn, derSig), "signature is invalid"},
		attack{"es256_empty_signature", ecIn + ".", "token is unsigned"},
		attack{"es256_attacker_key_kid_ec-1", es(map[string]any{"alg": "ES256", "kid": "ec-1"}, claims, lab.evilEC), "signature is invalid"},
		attack{"es256_header_rsa_kid", es(map[string]any{"alg": "ES256", "kid": "key-1"}, claims, lab.ec), "does not allow algorithm ES256"},
		attack{"rs256_header_ec_kid", rs(map[string]any{"alg": "RS256", "kid": "ec-1"}, claims), "does not allow algorithm RS256"},
		attack{"es384_not_configured", es(map[string]any{"alg": "ES384", "kid": "ec-1"}, claims, lab.ec), `algorithm "ES384" is not accepted`},
	)

	// PS256 with the RS256-pinned key: a real PSS signature by the trusted
	// key, refused because the key's own "alg" says RS256 (and an RS256
	// header over a PSS signature is simply a bad signature).
	psIn := unsigned(t, map[string]any{"alg": "PS256", "kid": "key-1"}, claims)
	rsOverPS := unsigned(t, rsHeader, claims)
	rows = append(rows,
		attack{"ps256_against_rs256_key", withSig(psIn, signJWS(t, jwa.PS256(), key.Private, psIn)), "does not allow algorithm PS256"},
		attack{"rs256_header_pss_signature", withSig(rsOverPS, signJWS(t, jwa.PS256(), key.Private, rsOverPS)), "signature is invalid"},
	)
	// The row for es256_s_negated: ECDSA signatures are malleable (s and
	// n-s both verify); that is not a forgery (only the key holder can make
	// either), so the row is a control, not an attack.

	// Issuer and audience: wrong, missing or look-alike.
	iss := p.Issuer
	for _, r := range []struct {
		name string
		v    any
	}{
		{"iss_wrong", "https://evil.example.com/"},
		{"iss_missing", nil},
		{"iss_null", json.RawMessage("null")},
		{"iss_empty", ""},
		{"iss_without_trailing_slash", strings.TrimSuffix(iss, "/")},
		{"iss_double_trailing_slash", iss + "/"},
		{"iss_upper_case_scheme", "HTTP" + strings.TrimPrefix(iss, "http")},
		{"iss_https_instead_of_http", "https" + strings.TrimPrefix(iss, "http")},
		{"iss_prefix_lookalike", strings.TrimSuffix(iss, "/") + ".evil.example.com/"},
		{"iss_userinfo_lookalike", strings.TrimSuffix(iss, "/") + "@evil.example.com/"},
		{"iss_path_suffix", iss + "evil/"},
		{"iss_trailing_space", iss + " "},
		{"iss_fullwidth_digit", strings.Replace(iss, "1", "\uff11", 1)},
		{"iss_array", []string{iss}},
		{"iss_object", map[string]string{"iss": iss}},
		{"iss_number", 1},
	} {
		rows = append(rows, attack{r.name, rsClaims(with("iss", r.v)), "issuer is not accepted"})
	}
	aud := authntest.Audience
	for _, r := range []struct {
		name string
		v    any
	}{
		{"aud_wrong", "https://other.example.com"},
		{"aud_missing", nil},
		{"aud_null", json.RawMessage("null")},
		{"aud_empty", ""},
		{"aud_empty_array", []string{}},
		{"aud_trailing_slash", aud + "/"},
		{"aud_prefix_lookalike", aud + ".evil.example.com"},
		{"aud_substring", aud[:len(aud)-1]},
		{"aud_upper_case", strings.ToUpper(aud)},
		{"aud_space_separated", "https://other.example.com " + aud},
		{"aud_comma_separated", "https://other.example.com," + aud},
		{"aud_nested_array", []any{[]string{aud}}},
		{"aud_object", map[string]string{"aud": aud}},
		{"aud_array_of_others", []string{"a", "b", aud + "x"}},
		{"aud_number", 1},
		{"aud_is_issuer", iss},
	} {
		rows = append(rows, attack{r.name, rsClaims(with("aud", r.v)), "audience is not accepted"})
	}

	// Lifetime: expired, not yet valid, malformed, missing.
	rows = append(rows,
		attack{"exp_expired", rsClaims(with("exp", now.Add(-time.Minute).Unix())), "expired"},
		attack{"exp_expired_long_ago", rsClaims(with("exp", 1)), "expired"},
		attack{"exp_zero", rsClaims(with("exp", 0)), "expired"},
		attack{"exp_missing", rsClaims(with("exp", nil)), `no "exp"`},
		attack{"exp_null", rsClaims(with("exp", json.RawMessage("null"))), `"exp" is not a number`},
		attack{"exp_as_string", rsClaims(with("exp", fmt.Sprint(now.Add(time.Hour).Unix()))), `"exp" is not a number`},
		attack{"exp_as_bool", rsClaims(with("exp", true)), `"exp" is not a number`},
		attack{"exp_as_array", rsClaims(with("exp", []int64{now.Add(time.Hour).Unix()})), `"exp" is not a number`},
		attack{"exp_negative", rsClaims(with("exp", -1)), `"exp" is out of range`},
		attack{"exp_huge", rsClaims(with("exp", json.RawMessage("1e300"))), `"exp" is out of range`},
		attack{"exp_overflowing_int64", rsClaims(with("exp", json.RawMessage("9223372036854775808"))), `"exp" is out of range`},
		attack{"nbf_future", rsClaims(with("nbf", now.Add(time.Hour).Unix())), "not valid yet"},
		attack{"nbf_as_string", rsClaims(with("nbf", "0")), `"nbf" is not a number`},
		attack{"iat_future", rsClaims(with("iat", now.Add(time.Hour).Unix())), "issued in the future"},
		attack{"iat_as_string", rsClaims(with("iat", "0")), `"iat" is not a number`},
		attack{"sub_not_a_string", rsClaims(with("sub", 1)), `"sub" is not a string`},
	)

	// Malformed compact serialisations.
	stdHeader := base64.StdEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"key-1","x":"\u00fb\u00ff>?"}`))
	rows = append(rows,
		attack{"compact_empty", "", "not a signed JWT"},
		attack{"compact_one_segment", h64, "not a signed JWT"},
		attack{"compact_two_segments", h64 + "." + p64, "not a signed JWT"},
		attack{"compact_four_segments", valid + "." + b64(validSig), "not a signed JWT"},
		attack{"compact_five_segments_jwe", authntest.Segment(t, map[string]any{"alg": "RSA-OAEP", "enc": "A256GCM", "kid": "key-1"}) + ".a.b.c.d", "not a signed JWT"},
		attack{"compact_only_dots", "..", "empty part"},
		attack{"compact_empty_header", "." + p64 + "." + b64(validSig), "empty part"},
		attack{"compact_empty_payload", h64 + ".." + b64(validSig), "empty part"},
		attack{"header_standard_base64", stdHeader + "." + p64 + "." + b64(validSig), "not base64url"},
		attack{"header_padded_base64", base64.URLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"key-1"}`)) + "." + p64 + "." + b64(validSig), "not base64url"},
		attack{"header_non_canonical_base64", h64[:len(h64)-1] + nonCanonical(h64[len(h64)-1]) + "." + p64 + "." + b64(validSig), "not base64url"},
		attack{"header_invalid_characters", "!!!." + p64 + "." + b64(validSig), "not base64url"},
		attack{"header_not_json", authntest.Segment(t, []byte("hello")) + "." + p64 + "." + b64(validSig), "not a JSON object"},
		attack{"header_json_array", authntest.Segment(t, []byte(`[{"alg":"RS256"}]`)) + "." + p64 + "." + b64(validSig), "not a JSON object"},
		attack{"header_json_null", authntest.Segment(t, []byte("null")) + "." + p64 + "." + b64(validSig), "not a JSON object"},
		attack{"header_json_string", authntest.Segment(t, []byte(`"RS256"`)) + "." + p64 + "." + b64(validSig), "not a JSON object"},
		attack{"header_trailing_garbage", authntest.Segment(t, []byte(`{"alg":"RS256","kid":"key-1"}x`)) + "." + p64 + "." + b64(validSig), "not a JSON object"},
		attack{"header_two_objects", authntest.Segment(t, []byte(`{"alg":"RS256","kid":"key-1"}{"alg":"none"}`)) + "." + p64 + "." + b64(validSig), "not a JSON object"},
		attack{"payload_not_base64", withSig(h64+".!!!", signJWS(t, jwa.RS256(), key.Private, h64+".!!!")), "payload is not base64url"},
		attack{"payload_not_json", rsClaims([]byte("hello")), "payload is not a JSON object"},
		attack{"payload_json_array", rsClaims([]byte(`[{"sub":"x"}]`)), "payload is not a JSON object"},
		attack{"payload_json_null", rsClaims([]byte("null")), "payload is not a JSON object"},
		attack{"payload_trailing_garbage", rsClaims(append(mustJSON(t, claims), "x"...)), "payload is not a JSON object"},
		attack{"payload_two_objects", rsClaims(append(mustJSON(t, claims), `{"sub":"auth0|root"}`...)), "payload is not a JSON object"},
		attack{"signature_not_base64", signedPart + ".!!!", "signature is invalid"},
	)

	// Size: too large as a whole, a header too large, deep nesting.
	deepHeader := `{"alg":"RS256","kid":"key-1","x":` + strings.Repeat("[", 700) + strings.Repeat("]", 700) + "}"
	deepPayload := `{"x":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "}"
	rows = append(rows,
		attack{"token_too_large", rs(rsHeader, with("pad", strings.Repeat("a", authn.MaxTokenBytes))), "too large"},
		attack{"token_too_large_garbage", strings.Repeat("a", authn.MaxTokenBytes+1), "too large"},
		attack{"header_too_large", rs(map[string]any{"alg": "RS256", "kid": "key-1", "pad": strings.Repeat("a", 2<<10)}, claims), "header is too large"},
		attack{"header_deeply_nested", withSig(authntest.Segment(t, []byte(deepHeader))+"."+p64, validSig), "signature is invalid"},
		attack{"header_nested_beyond_limit", authntest.Segment(t, []byte(strings.Repeat("[", 1500))) + "." + p64 + "." + b64(validSig), "not a JSON object"},
		// The payload is read (to find its issuer) before the signature is
		// checked: deep nesting must cost nothing and grant nothing.
		attack{"payload_deeply_nested_forged", withSig(h64+"."+authntest.Segment(t, []byte(deepPayload)), validSig), "issuer is not accepted"},
	)
	return rows
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// nonCanonical returns a base64url character that decodes to the same bytes
// as c when c is the last of an unpadded string with spare low bits, but is
// a different character: strict decoders must refuse it.
func nonCanonical(c byte) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	return string(alphabet[strings.IndexByte(alphabet, c)^1])
}

func asn1Sig(r, s *big.Int) ([]byte, error) {
	type ecdsaSignature struct{ R, S *big.Int }
	return asn1.Marshal(ecdsaSignature{r, s})
}

func selfSigned(t *testing.T, key *authntest.Key) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "trust me"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.Private.PublicKey, key.Private)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestAttacks runs the attack catalogue with the verified-token cache on
// and off: every row is refused, with ErrInvalidToken and the expected
// reason; the controls verify. No request reaches the URLs that forged
// headers name, and no kid reaches a shell.
func TestAttacks(t *testing.T) {
	lab := newAttackLab(t)
	shellMark := filepath.Join(t.TempDir(), "pwned")
	rows := lab.catalogue(t, shellMark)
	seen := make(map[string]bool, len(rows))
	for _, r := range rows {
		if seen[r.name] {
			t.Fatalf("duplicate row %s", r.name)
		}
		seen[r.name] = true
	}
	for _, mode := range []struct {
		name      string
		cacheSize int
	}{{"cache_off", 0}, {"cache_on", authn.DefaultCacheSize}} {
		t.Run(mode.name, func(t *testing.T) {
			runCatalogue(t, lab.verifier(t, mode.cacheSize), rows)
		})
	}
	if n := lab.evilHits.Load(); n != 0 {
		t.Errorf("the attacker's server got %d requests; jku, x5u, jwk, x5c and kid must never be fetched", n)
	}
	if _, err := os.Stat(shellMark); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a kid reached a shell: %s exists (%v)", shellMark, err)
	}
}

// TestAttackCachedSignatureSwap primes the cache with a valid token and
// then presents its header and payload under other signatures: the cache
// is keyed by the whole token, so none of them may ride on the entry.
func TestAttackCachedSignatureSwap(t *testing.T) {
	lab := newAttackLab(t)
	v := lab.verifier(t, authn.DefaultCacheSize)
	valid := lab.p.Token(t, nil)
	if _, err := v.Verify(context.Background(), authn.Token(valid)); err != nil {
		t.Fatalf("Verify(valid) = %v", err)
	}
	signedPart := valid[:strings.LastIndexByte(valid, '.')]
	for _, tok := range []string{
		signedPart + ".",
		signedPart + "." + b64(make([]byte, 256)),
		signedPart + ".AAAA",
		unsigned(t, map[string]any{"alg": "none"}, lab.p.Claims()) + "." + valid[len(signedPart)+1:],
	} {
		if _, err := v.Verify(context.Background(), authn.Token(tok)); !errors.Is(err, authn.ErrInvalidToken) {
			t.Errorf("Verify(cached header.payload with another signature) = %v, want ErrInvalidToken", err)
		}
	}
}

// runCatalogue verifies every row twice (the second pass would find
// whatever the first left in the cache): controls verify, attacks are
// refused with ErrInvalidToken and the row's reason.
func runCatalogue(t *testing.T, v *authn.Verifier, rows []attack) {
	t.Helper()
	for pass := range 2 {
		for _, a := range rows {
			t.Run(fmt.Sprintf("%s/pass%d", a.name, pass), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				claims, err := v.Verify(ctx, authn.Token(a.token))
				if a.want == "" {
					if err != nil {
						t.Fatalf("Verify(control) = %v, want success", err)
					}
					return
				}
				if err == nil {
					t.Fatalf("Verify() accepted the attack: claims %v", claims.Payload())
				}
				if !errors.Is(err, authn.ErrInvalidToken) {
					t.Fatalf("Verify() = %v, want ErrInvalidToken", err)
				}
				d := authn.Description(err)
				if !strings.Contains(d, a.want) {
					t.Errorf("Verify() refused with %q, want a reason containing %q", d, a.want)
				}
				if !utf8.ValidString(d) {
					t.Errorf("Verify() reason %q is not valid UTF-8", d)
				}
				if len(a.token) > 40 && strings.Contains(err.Error(), a.token) {
					t.Errorf("Verify() error repeats the token")
				}
			})
		}
	}
}
