package authn_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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

// TestProviderDownAtStart: while the provider has never answered, the key
// set is not ready and nothing is granted (ErrKeysUnavailable, which the
// HTTP face answers 503); once it answers, the service recovers by itself.
func TestProviderDownAtStart(t *testing.T) {
	for _, g := range append(garbage(t), noSigningKeys(t)...) {
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

// keysInUseThen starts a provider and a fault lab that refreshes often,
// verifies a token once the keys are in use, and then has the provider
// answer with handler. It returns the token and the fetch count before
// the change.
func keysInUseThen(t *testing.T, handler http.HandlerFunc) (*authntest.Provider, *faultLab, string, int64) {
	t.Helper()
	p := authntest.NewProvider(t)
	p.SetMaxAge(0) // refresh as often as MinRefresh allows
	lab := startFaultLab(t, p, authn.KeySetConfig{MinRefresh: 10 * time.Millisecond, MaxRetryDelay: 10 * time.Millisecond, UnknownKIDInterval: time.Millisecond})
	authntest.AwaitKeys(t, lab.keys)
	valid := p.Token(t, nil)
	lab.mustAccept(t, "valid token", valid)
	before := lab.keys.Fetches()
	p.SetHandler(handler)
	return p, lab, valid, before
}

// TestProviderDownLater: once fetched, keys keep working through any
// failure of the provider, background refreshes and unknown-kid refetches
// alike; and a token of a key the provider never published stays refused.
func TestProviderDownLater(t *testing.T) {
	for _, g := range garbage(t) {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			p, lab, valid, before := keysInUseThen(t, g.handler)
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

// TestProviderRevokesEveryKey: once keys are in use, a well-formed key
// set without a usable signing key is the provider's word: the keys in use
// are revoked, tokens signed by them are refused (cached ones too), and
// the service recovers by itself when the provider publishes keys again.
func TestProviderRevokesEveryKey(t *testing.T) {
	for _, g := range noSigningKeys(t) {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			p, lab, valid, before := keysInUseThen(t, g.handler)
			lab.awaitFailedFetches(t, before, 2)
			lab.mustRefuse(t, "token of a revoked key, once accepted", valid, authn.ErrInvalidToken)
			lab.mustRefuse(t, "fresh token of a revoked key", p.Token(t, map[string]any{"sub": "auth0|bob"}), authn.ErrInvalidToken)
			if lab.keys.LastError() == nil {
				t.Error("LastError() = nil while the provider publishes no usable key")
			}

			p.SetHandler(nil)
			if !testwait.Until(10*time.Second, func() bool { return lab.keys.LastError() == nil }) {
				t.Fatalf("no recovery within 10s: %v", lab.keys.LastError())
			}
			lab.mustAccept(t, "valid token after the provider publishes its key again", valid)
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

// syncBuffer is a log destination the key set's goroutine and the test
// share.
type syncBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// TestFetchFailureLogRedactsURL: a failed fetch is logged with the key
// set's URL, but without the credentials its query may carry (a signed
// URL), as /readyz shows it.
func TestFetchFailureLogRedactsURL(t *testing.T) {
	p := authntest.NewProvider(t)
	p.SetHandler(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "down", http.StatusInternalServerError) })
	var logs syncBuffer
	keys := authn.NewKeySet(authn.KeySetConfig{
		JWKSURL: p.JWKSURL() + "?sig=S3CRET-SIG&token=T0KEN", Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		MaxRetryDelay: 20 * time.Millisecond,
	})
	authntest.RunKeys(t, keys)
	if !testwait.Until(10*time.Second, func() bool { return strings.Contains(logs.String(), "signing keys fetch failed") }) {
		t.Fatalf("no failed fetch logged within 10s: %v", keys.LastError())
	}
	out := logs.String()
	if strings.Contains(out, "S3CRET-SIG") || strings.Contains(out, "T0KEN") || !strings.Contains(out, "/.well-known/jwks.json?***") {
		t.Errorf("log = %q, want the URL with its query redacted", out)
	}
	// No key was ever fetched: nothing previous is kept.
	if strings.Contains(out, "keeping the previous keys") || !strings.Contains(out, "no keys yet") {
		t.Errorf("log = %q, want the first failure to say there are no keys yet", out)
	}
}
