package authn_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/authn/authntest"
	"github.com/policygate/policygate/internal/testwait"
)

// faultLab is a provider whose JWKS endpoint the test breaks and mends, a
// key set fetching from it and verifiers with the token cache on and off.
type faultLab struct {
	p    *authntest.Provider
	keys *authn.KeySet
	// verifiers by cache mode: a cached success must never outlive the
	// key set's verdict, so every fault is checked through both.
	verifiers map[string]*authn.Verifier
}

// startFaultLab starts a key set on p with cfg (JWKSURL filled in) and does
// not wait for its first fetch.
func startFaultLab(t *testing.T, p *authntest.Provider, cfg authn.KeySetConfig) *faultLab {
	t.Helper()
	cfg.JWKSURL = p.JWKSURL()
	lab := &faultLab{p: p, keys: authn.NewKeySet(cfg), verifiers: map[string]*authn.Verifier{}}
	authntest.RunKeys(t, lab.keys)
	for name, size := range map[string]int{"cache_off": 0, "cache_on": authn.DefaultCacheSize} {
		v, err := authn.NewVerifier(lab.keys, authn.VerifierConfig{
			Issuer: p.Issuer, Audience: authntest.Audience, Algorithms: []string{"RS256"}, ClockSkew: 30 * time.Second, CacheSize: size,
		})
		if err != nil {
			t.Fatal(err)
		}
		lab.verifiers[name] = v
	}
	return lab
}

// verifyAll verifies tok with every verifier and reports the errors.
func (lab *faultLab) verifyAll(t *testing.T, tok string) map[string]error {
	t.Helper()
	errs := map[string]error{}
	for name, v := range lab.verifiers {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, errs[name] = v.Verify(ctx, authn.Token(tok))
		cancel()
	}
	return errs
}

func (lab *faultLab) mustAccept(t *testing.T, what, tok string) {
	t.Helper()
	for mode, err := range lab.verifyAll(t, tok) {
		if err != nil {
			t.Errorf("%s: Verify(%s) = %v, want success", mode, what, err)
		}
	}
}

func (lab *faultLab) mustRefuse(t *testing.T, what, tok string, want error) {
	t.Helper()
	for mode, err := range lab.verifyAll(t, tok) {
		if !errors.Is(err, want) {
			t.Errorf("%s: Verify(%s) = %v, want %v", mode, what, err, want)
		}
	}
}

// awaitFailedFetches waits, within a bound, until at least n more fetches
// than before ran and the latest one failed.
func (lab *faultLab) awaitFailedFetches(t *testing.T, before, n int64) {
	t.Helper()
	if !testwait.Until(10*time.Second, func() bool {
		return lab.keys.Fetches() >= before+n+1 && lab.keys.LastError() != nil
	}) {
		t.Fatalf("after %d fetches the last error is %v; want %d failed fetches", lab.keys.Fetches()-before, lab.keys.LastError(), n)
	}
}

// awaitRefresh waits, within a bound, until a fetch that started after the
// call has finished. Fetches never overlap, so the second one to start
// after now marks the end of the first.
func (lab *faultLab) awaitRefresh(t *testing.T) {
	t.Helper()
	before := lab.keys.Fetches()
	if !testwait.Until(10*time.Second, func() bool { return lab.keys.Fetches() >= before+2 }) {
		t.Fatalf("no refresh within 10s: %v", lab.keys.LastError())
	}
}

// unknownKID is a token the key set must refetch for: a kid it has not seen.
func unknownKID(t *testing.T, p *authntest.Provider, kid string) string {
	return authntest.SignWithHeader(t, p.Key(), map[string]any{"alg": "RS256", "kid": kid}, p.Claims())
}

// The faults an identity provider shows, as JWKS handlers.
var (
	status503 = func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream unavailable", http.StatusServiceUnavailable)
	}
	status500 = func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":"internal"}`, http.StatusInternalServerError)
	}
	// hangUp closes the connection without an answer: the provider is down.
	hangUp = func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}
)

func body(contentType, s string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Write([]byte(s))
	}
}

// weakJWKS serves a 1024-bit RSA key: too weak to be used, so not a key set.
func weakJWKS(t *testing.T) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": "key-1", "use": "sig", "alg": "RS256",
		"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes()),
	}}})
	return string(b)
}

// faultyAnswer is one way for a provider to answer a key set request.
type faultyAnswer struct {
	name    string
	handler http.HandlerFunc
}

// garbage are answers that are not a key set at all: failures, never the
// provider's word on which keys are valid.
func garbage(t *testing.T) []faultyAnswer {
	return []faultyAnswer{
		{"status_503", status503},
		{"status_500", status500},
		{"status_404", http.NotFound},
		{"connection_closed", hangUp},
		{"html", body("text/html", "<html><body>maintenance</body></html>")},
		{"not_json", body("application/json", "keys: none")},
		{"truncated_json", body("application/json", string(authntest.JWKS(authntest.NewKey(t, "key-1")))[:100])},
		{"empty_object", body("application/json", "{}")},
		{"keys_null", body("application/json", `{"keys":null}`)},
		// Broken keys are garbage too, not a revocation.
		{"key_with_bad_base64", body("application/json", `{"keys":[{"kty":"RSA","kid":"key-1","use":"sig","n":"!!!not-base64","e":"AQAB"}]}`)},
		{"key_without_kty", body("application/json", `{"keys":[{"kid":"key-1"}]}`)},
		{"duplicate_kids", body("application/json", strings.Replace(string(authntest.JWKS(authntest.NewKey(t, "key-1"), authntest.NewKey(t, "key-2"))), `"kid":"key-2"`, `"kid":"key-1"`, 1))},
		{"too_large", body("application/json", `{"keys":[],"pad":"`+strings.Repeat("a", 1<<20)+`"}`)},
	}
}

// noSigningKeys are well-formed key sets in which no key can verify a
// signature (none at all, or only keys the verifier refuses to use):
// before the first keys, a failed fetch; after, they revoke the keys in
// use.
func noSigningKeys(t *testing.T) []faultyAnswer {
	return []faultyAnswer{
		{"empty_key_list", body("application/json", `{"keys":[]}`)},
		// Well-formed keys this verifier does not use, jwx parsing them
		// or not: too weak, a curve or key type it does not support.
		{"only_weak_rsa_key", body("application/json", weakJWKS(t))},
		{"only_secp256k1_key", body("application/json", `{"keys":[{"kty":"EC","crv":"secp256k1","kid":"key-1","x":"gpfyTn6QzDk5rGE0GkrIp6h6bLp7eWv_3pZ3MhnjTlM","y":"eYlQ9m2TDUx9Pp9OO2mOaC2TKPDrLbqyK7uT9yXwD8U"}]}`)},
		{"only_unknown_kty", body("application/json", `{"keys":[{"kty":"AKP","alg":"ML-DSA-44","kid":"key-1","pub":"AAAA"}]}`)},
		{"only_symmetric_key", body("application/json", `{"keys":[{"kty":"oct","kid":"key-1","k":"c2VjcmV0"}]}`)},
		{"encryption_keys_only", body("application/json", strings.ReplaceAll(string(authntest.JWKS(authntest.NewKey(t, "key-1"))), `"use":"sig"`, `"use":"enc"`))},
	}
}
