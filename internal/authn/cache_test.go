package authn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/policygate/policygate/internal/authn/authntest"
)

// clock is a settable time source for the verifier.
type clock struct{ t atomic.Pointer[time.Time] }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.set(t)
	return c
}

func (c *clock) set(t time.Time)     { c.t.Store(&t) }
func (c *clock) now() time.Time      { return *c.t.Load() }
func (c *clock) add(d time.Duration) { c.set(c.now().Add(d)) }

// cachedVerifier returns a verifier with a token cache of size over keys
// fetched from p; the key set refreshes every 10 ms when p sends max-age=0.
func cachedVerifier(t *testing.T, p *authntest.Provider, size int, now func() time.Time) (*Verifier, *KeySet) {
	t.Helper()
	keys := NewKeySet(KeySetConfig{JWKSURL: p.JWKSURL(), MinRefresh: 10 * time.Millisecond, UnknownKIDInterval: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go keys.Run(ctx)
	select {
	case <-keys.Ready():
	case <-time.After(10 * time.Second):
		t.Fatalf("keys not fetched: %v", keys.LastError())
	}
	v, err := NewVerifier(keys, VerifierConfig{
		Issuer: p.Issuer, Audience: authntest.Audience, Algorithms: []string{"RS256"},
		ClockSkew: 30 * time.Second, Now: now, CacheSize: size,
	})
	if err != nil {
		t.Fatal(err)
	}
	return v, keys
}

// awaitFetches waits until the key set finished n more fetches than before.
func awaitFetches(t *testing.T, keys *KeySet, before int64, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for keys.Fetches() < before+n+1 { // the (n+1)th has started, so n finished
		if time.Now().After(deadline) {
			t.Fatalf("key set did not refresh: %d fetches", keys.Fetches()-before)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCacheHitReturnsTheVerifiedClaims(t *testing.T) {
	p := authntest.NewProvider(t)
	v, _ := cachedVerifier(t, p, 0, nil)
	ctx := context.Background()
	alice := Token(p.Token(t, map[string]any{"sub": "alice"}))
	bob := Token(p.Token(t, map[string]any{"sub": "bob"}))
	first, err := v.Verify(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	again, err := v.Verify(ctx, alice)
	if err != nil || again != first {
		t.Errorf("Verify(alice) again = %p, %v; want the cached %p", again, err, first)
	}
	if c, err := v.Verify(ctx, bob); err != nil || c.Subject != "bob" {
		t.Errorf("Verify(bob) = %+v, %v; want bob's own claims", c, err)
	}
	if n := v.cache.len(); n != 2 {
		t.Errorf("cache holds %d tokens, want 2", n)
	}
}

func TestCacheOffStoresNothing(t *testing.T) {
	p := authntest.NewProvider(t)
	v, _ := cachedVerifier(t, p, -1, nil)
	tok := Token(p.Token(t, nil))
	first, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	again, err := v.Verify(context.Background(), tok)
	if err != nil || again == first {
		t.Errorf("Verify() again = %p, %v; want fresh claims with the cache off", again, err)
	}
	if v.cache != nil {
		t.Errorf("cache = %v, want nil for CacheSize -1", v.cache)
	}
}

func TestCacheFollowsKeySet(t *testing.T) {
	tests := []struct {
		name    string
		publish func(p *authntest.Provider, signer *authntest.Key)
		wantErr error
	}{
		// A refresh rebuilds every key: the same key must keep its tokens.
		{"same_key_refetched", func(p *authntest.Provider, signer *authntest.Key) { p.SetKeys(signer) }, nil},
		{"key_removed", func(p *authntest.Provider, _ *authntest.Key) {
			p.SetKeys(authntest.NewKey(t, "key-2"))
		}, ErrInvalidToken},
		{"key_replaced_under_same_kid", func(p *authntest.Provider, _ *authntest.Key) {
			p.SetKeys(authntest.NewKey(t, "key-1"))
		}, ErrInvalidToken},
		{"key_rotated_out_beside_new_key", func(p *authntest.Provider, _ *authntest.Key) {
			p.SetKeys(authntest.NewKey(t, "key-2"), authntest.NewKey(t, "key-3"))
		}, ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := authntest.NewProvider(t)
			p.SetMaxAge(0) // refresh every MinRefresh (10 ms)
			v, keys := cachedVerifier(t, p, 0, nil)
			ctx := context.Background()
			tok := Token(p.Token(t, nil))
			if _, err := v.Verify(ctx, tok); err != nil {
				t.Fatal(err)
			}
			tt.publish(p, p.Key())
			awaitFetches(t, keys, keys.Fetches(), 2)
			_, err := v.Verify(ctx, tok)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Verify(cached token) after the key set changed = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestCacheKeepsTokenWithoutKID(t *testing.T) {
	p := authntest.NewProvider(t)
	p.SetMaxAge(0)
	v, keys := cachedVerifier(t, p, 0, nil)
	ctx := context.Background()
	tok := Token(authntest.SignWithHeader(t, p.Key(), map[string]any{"alg": "RS256"}, p.Claims()))
	first, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	awaitFetches(t, keys, keys.Fetches(), 2)
	if again, err := v.Verify(ctx, tok); err != nil || again != first {
		t.Errorf("Verify(no kid) after refetch = %p, %v; want the cached %p", again, err, first)
	}
	p.SetKeys(authntest.NewKey(t, "key-2"))
	awaitFetches(t, keys, keys.Fetches(), 2)
	if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("Verify(no kid) after its key left = %v, want ErrInvalidToken", err)
	}
}

func TestCacheRespectsLifetime(t *testing.T) {
	start := time.Now().Truncate(time.Second)
	const skew = 30 * time.Second
	tests := []struct {
		name    string
		claims  map[string]any
		later   time.Duration // clock move after the token was cached
		wantErr error
	}{
		{"within_exp", map[string]any{"exp": start.Add(time.Minute).Unix()}, time.Minute - time.Second, nil},
		{"within_exp_skew", map[string]any{"exp": start.Add(time.Minute).Unix()}, time.Minute + skew - time.Second, nil},
		{"expired_past_skew", map[string]any{"exp": start.Add(time.Minute).Unix()}, time.Minute + skew, ErrInvalidToken},
		{"long_expired", map[string]any{"exp": start.Add(time.Minute).Unix()}, 24 * time.Hour, ErrInvalidToken},
		// Clocks can step back: a cached token must not outrun nbf or iat.
		{"before_nbf_again", map[string]any{"nbf": start.Unix()}, -skew - time.Second, ErrInvalidToken},
		{"before_iat_again", map[string]any{"iat": start.Unix()}, -skew - time.Second, ErrInvalidToken},
		{"nbf_within_skew", map[string]any{"nbf": start.Unix()}, -skew + time.Second, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := authntest.NewProvider(t)
			clk := newClock(start)
			v, _ := cachedVerifier(t, p, 0, clk.now)
			tok := Token(p.Token(t, tt.claims))
			ctx := context.Background()
			if _, err := v.Verify(ctx, tok); err != nil {
				t.Fatal(err)
			}
			clk.add(tt.later)
			_, err := v.Verify(ctx, tok)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Verify(cached token) %s later = %v, want %v", tt.later, err, tt.wantErr)
			}
			// The uncached path agrees.
			fresh, err2 := NewVerifier(v.keys, VerifierConfig{
				Issuer: p.Issuer, Audience: authntest.Audience, Algorithms: []string{"RS256"},
				ClockSkew: skew, Now: clk.now, CacheSize: -1,
			})
			if err2 != nil {
				t.Fatal(err2)
			}
			if _, err2 = fresh.Verify(ctx, tok); fmt.Sprint(err2) != fmt.Sprint(err) {
				t.Errorf("uncached Verify() = %v, cached %v", err2, err)
			}
		})
	}
}

func TestCacheIsBounded(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		inserts int
	}{
		{"one", 1, 10},
		{"small", 100, 1000},
		{"sharded", 2048, 10_000},
		{"default", 0, 3 * DefaultCacheSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTokenCache(tt.size)
			want := tt.size
			switch tt.size {
			case 0:
				want = DefaultCacheSize
			case 1:
				want = 2 // one per generation
			}
			for i := range tt.inserts {
				k := cacheKey{byte(i), byte(i >> 8), byte(i >> 16)}
				c.put(&k, &cacheEntry{})
				if n := c.len(); n > want {
					t.Fatalf("after %d inserts the cache holds %d, want at most %d", i+1, n, want)
				}
			}
			if n := c.len(); n < want/2 {
				t.Errorf("cache holds %d after %d inserts, want at least %d", n, tt.inserts, want/2)
			}
		})
	}
}

func TestCacheKeepsHotEntry(t *testing.T) {
	c := newTokenCache(100)
	hot := cacheKey{0xff}
	c.put(&hot, &cacheEntry{})
	for i := range 1000 {
		k := cacheKey{byte(i), byte(i >> 8), 1}
		c.put(&k, &cacheEntry{})
		if c.get(&hot) == nil {
			t.Fatalf("hot entry evicted after %d other inserts", i+1)
		}
	}
}

func TestCacheConcurrent(t *testing.T) {
	p := authntest.NewProvider(t)
	p.SetMaxAge(0) // key set refreshes under the readers
	v, _ := cachedVerifier(t, p, 8, nil)
	tokens := make([]Token, 20) // more than the cache holds: constant eviction
	for i := range tokens {
		tokens[i] = Token(p.Token(t, map[string]any{"sub": fmt.Sprintf("user-%d", i)}))
	}
	bad := Token(p.Token(t, map[string]any{"aud": "https://other.api"}))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				n := (g*7 + i) % len(tokens)
				c, err := v.Verify(context.Background(), tokens[n])
				if err != nil || c.Subject != fmt.Sprintf("user-%d", n) {
					errs <- fmt.Errorf("Verify(user-%d) = %+v, %v", n, c, err)
					return
				}
				if _, err := v.Verify(context.Background(), bad); !errors.Is(err, ErrInvalidToken) {
					errs <- fmt.Errorf("Verify(wrong audience) = %v, want ErrInvalidToken", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func BenchmarkVerifyCached(b *testing.B) {
	p := authntest.NewProvider(b)
	keys := NewKeySet(KeySetConfig{JWKSURL: p.JWKSURL()})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go keys.Run(ctx)
	<-keys.Ready()
	v, err := NewVerifier(keys, VerifierConfig{Issuer: p.Issuer, Audience: authntest.Audience, Algorithms: []string{"RS256"}})
	if err != nil {
		b.Fatal(err)
	}
	tok := Token(p.Token(b, map[string]any{"scope": "read:messages", "permissions": []string{"read:messages"}}))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}
