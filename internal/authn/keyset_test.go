package authn_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
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

// garbage are answers that are not a usable key set.
func garbage(t *testing.T) []struct {
	name    string
	handler http.HandlerFunc
} {
	return []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"status_503", status503},
		{"status_500", status500},
		{"status_404", http.NotFound},
		{"connection_closed", hangUp},
		{"html", body("text/html", "<html><body>maintenance</body></html>")},
		{"not_json", body("application/json", "keys: none")},
		{"truncated_json", body("application/json", string(authntest.JWKS(authntest.NewKey(t, "key-1")))[:100])},
		{"empty_object", body("application/json", "{}")},
		{"empty_key_list", body("application/json", `{"keys":[]}`)},
		{"keys_null", body("application/json", `{"keys":null}`)},
		{"only_symmetric_key", body("application/json", `{"keys":[{"kty":"oct","kid":"key-1","k":"c2VjcmV0"}]}`)},
		{"only_weak_rsa_key", body("application/json", weakJWKS(t))},
		{"duplicate_kids", body("application/json", strings.Replace(string(authntest.JWKS(authntest.NewKey(t, "key-1"), authntest.NewKey(t, "key-2"))), `"kid":"key-2"`, `"kid":"key-1"`, 1))},
		{"encryption_keys_only", body("application/json", strings.ReplaceAll(string(authntest.JWKS(authntest.NewKey(t, "key-1"))), `"use":"sig"`, `"use":"enc"`))},
		{"too_large", body("application/json", `{"keys":[],"pad":"`+strings.Repeat("a", 1<<20)+`"}`)},
	}
}

// TestProviderDownAtStart: while the provider has never answered, the key
// set is not ready and nothing is granted (ErrKeysUnavailable, which the
// HTTP face answers 503); once it answers, the service recovers by itself.
func TestProviderDownAtStart(t *testing.T) {
	for _, g := range garbage(t) {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			p := authntest.NewProvider(t)
			p.SetHandler(g.handler)
			lab := startFaultLab(t, p, authn.KeySetConfig{MaxRetryDelay: 20 * time.Millisecond})
			lab.awaitFailedFetches(t, 0, 2)
			select {
			case <-lab.keys.Ready():
				t.Fatal("key set is ready although no fetch succeeded")
			default:
			}
			lab.mustRefuse(t, "valid token", p.Token(t, nil), authn.ErrKeysUnavailable)

			p.SetHandler(nil)
			authntest.AwaitKeys(t, lab.keys)
			lab.mustAccept(t, "valid token after recovery", p.Token(t, nil))
			if err := lab.keys.LastError(); err != nil {
				t.Errorf("LastError() after recovery = %v, want nil", err)
			}
		})
	}
}

// TestProviderDownLater: once fetched, keys keep working through any
// failure of the provider, background refreshes and unknown-kid refetches
// alike; and a token of a key the provider never published stays refused.
func TestProviderDownLater(t *testing.T) {
	for _, g := range garbage(t) {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			p := authntest.NewProvider(t)
			p.SetMaxAge(0) // refresh as often as MinRefresh allows
			lab := startFaultLab(t, p, authn.KeySetConfig{MinRefresh: 10 * time.Millisecond, MaxRetryDelay: 10 * time.Millisecond, UnknownKIDInterval: time.Millisecond})
			authntest.AwaitKeys(t, lab.keys)
			valid := p.Token(t, nil)
			lab.mustAccept(t, "valid token", valid)

			before := lab.keys.Fetches()
			p.SetHandler(g.handler)
			lab.awaitFailedFetches(t, before, 3)
			lab.mustAccept(t, "cached-by-client token while the provider fails", valid)
			lab.mustAccept(t, "fresh token while the provider fails", p.Token(t, map[string]any{"sub": "auth0|bob"}))
			lab.mustRefuse(t, "unknown kid while the provider fails", unknownKID(t, p, "key-9"), authn.ErrInvalidToken)
			if lab.keys.LastError() == nil {
				t.Error("LastError() = nil while the provider fails")
			}
		})
	}
}

// TestProviderSlow: a provider that does not answer delays nobody whose
// token names a key we have; a token with an unknown kid waits at most for
// its own request's deadline and is refused.
func TestProviderSlow(t *testing.T) {
	p := authntest.NewProvider(t)
	lab := startFaultLab(t, p, authn.KeySetConfig{UnknownKIDInterval: time.Millisecond, FetchTimeout: 30 * time.Second})
	authntest.AwaitKeys(t, lab.keys)

	entered := make(chan struct{}, 16)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	p.SetHandler(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})

	// A token with an unknown kid starts a fetch that hangs.
	stuck := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		_, err := lab.verifiers["cache_off"].Verify(ctx, authn.Token(unknownKID(t, p, "key-new")))
		stuck <- err
	}()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the unknown kid did not cause a fetch")
	}

	// While it hangs, known keys verify. Were they queued behind the fetch,
	// Verify would wait for its deadline and fail.
	for i := range 20 {
		for mode, v := range lab.verifiers {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := v.Verify(ctx, authn.Token(p.Token(t, map[string]any{"jti": fmt.Sprint(i)})))
			cancel()
			if err != nil {
				t.Fatalf("%s: Verify(known kid) while the provider hangs = %v, want success", mode, err)
			}
		}
	}
	select {
	case err := <-stuck:
		if !errors.Is(err, authn.ErrInvalidToken) {
			t.Errorf("Verify(unknown kid) while the provider hangs = %v, want ErrInvalidToken", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Verify(unknown kid) did not return at its deadline")
	}
}

// TestKeyRotationWithinSeconds: a key the provider starts publishing is
// accepted as soon as a token names it (one rate-limited refetch), and the
// background refresh finds it too.
func TestKeyRotationWithinSeconds(t *testing.T) {
	for _, via := range []string{"unknown_kid_refetch", "background_refresh"} {
		t.Run(via, func(t *testing.T) {
			p := authntest.NewProvider(t)
			cfg := authn.KeySetConfig{UnknownKIDInterval: 50 * time.Millisecond}
			if via == "background_refresh" {
				p.SetMaxAge(0)
				cfg = authn.KeySetConfig{MinRefresh: 20 * time.Millisecond, UnknownKIDInterval: time.Hour}
			}
			lab := startFaultLab(t, p, cfg)
			authntest.AwaitKeys(t, lab.keys)
			k2 := authntest.NewKey(t, "key-2")
			p.SetKeys(p.Key(), k2)
			tok := authntest.Sign(t, k2, p.Claims())
			var errs map[string]error
			if !testwait.Until(5*time.Second, func() bool {
				errs = lab.verifyAll(t, tok)
				return errs["cache_off"] == nil && errs["cache_on"] == nil
			}) {
				t.Fatalf("token of the new key still refused after 5s: %v", errs)
			}
			lab.mustAccept(t, "token of the old key", p.Token(t, nil))
		})
	}
}

// TestRemovedKeyRefused: once a refresh no longer lists a key, its tokens
// are refused, including one that verified (and was cached) before.
func TestRemovedKeyRefused(t *testing.T) {
	p := authntest.NewProvider(t)
	p.SetMaxAge(0)
	lab := startFaultLab(t, p, authn.KeySetConfig{MinRefresh: 10 * time.Millisecond, UnknownKIDInterval: time.Hour})
	authntest.AwaitKeys(t, lab.keys)
	old := p.Token(t, nil)
	lab.mustAccept(t, "token of key-1", old)

	k1, k2 := p.Key(), authntest.NewKey(t, "key-2")
	p.SetKeys(k2)
	lab.awaitRefresh(t)
	lab.mustRefuse(t, "cached token of the removed key", old, authn.ErrInvalidToken)
	lab.mustRefuse(t, "new token of the removed key", authntest.Sign(t, k1, p.Claims()), authn.ErrInvalidToken)
	lab.mustRefuse(t, "removed key without kid", authntest.SignWithHeader(t, k1, map[string]any{"alg": "RS256"}, p.Claims()), authn.ErrInvalidToken)
	lab.mustAccept(t, "token of the new key", authntest.Sign(t, k2, p.Claims()))
}

// TestKeyReplacedUnderSameKID: a provider that reuses a kid for a new key
// (it should not, but some do) makes the old key's tokens invalid.
func TestKeyReplacedUnderSameKID(t *testing.T) {
	p := authntest.NewProvider(t)
	p.SetMaxAge(0)
	lab := startFaultLab(t, p, authn.KeySetConfig{MinRefresh: 10 * time.Millisecond, UnknownKIDInterval: time.Hour})
	authntest.AwaitKeys(t, lab.keys)
	old := p.Token(t, nil)
	lab.mustAccept(t, "token of the first key-1", old)
	p.SetKeys(authntest.NewKey(t, "key-1"))
	lab.awaitRefresh(t)
	lab.mustRefuse(t, "token of the replaced key", old, authn.ErrInvalidToken)
	lab.mustAccept(t, "token of the new key-1", p.Token(t, map[string]any{"sub": "y"}))
}

// TestRandomKIDBurst: hundreds of concurrent tokens with random kids cause
// at most one fetch per UnknownKIDInterval (plus the one in flight), counted
// where it matters: requests reaching the provider.
func TestRandomKIDBurst(t *testing.T) {
	p := authntest.NewProvider(t)
	const interval = 200 * time.Millisecond
	lab := startFaultLab(t, p, authn.KeySetConfig{UnknownKIDInterval: interval})
	authntest.AwaitKeys(t, lab.keys)
	v := lab.verifiers["cache_on"]
	before := p.JWKSRequests()
	start := time.Now()
	var wg sync.WaitGroup
	var accepted atomic.Int64
	for g := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				kid := fmt.Sprintf("random-%d-%d", g, i)
				if _, err := v.Verify(ctx, authn.Token(unknownKID(t, p, kid))); err == nil {
					accepted.Add(1)
				}
				cancel()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if n := accepted.Load(); n != 0 {
		t.Errorf("%d tokens with random kids were accepted", n)
	}
	limit := int64(elapsed/interval) + 2
	if got := p.JWKSRequests() - before; got > limit {
		t.Errorf("500 random kids in %v caused %d JWKS requests, want at most %d (one per %v)", elapsed, got, limit, interval)
	}
	lab.mustAccept(t, "valid token after the burst", p.Token(t, nil))
}
