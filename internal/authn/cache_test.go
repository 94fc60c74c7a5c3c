package authn

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/policygate/policygate/internal/authn/authntest"
	"github.com/policygate/policygate/internal/testwait"
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
	authntest.StartKeys(t, keys)
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
	// The (n+1)th fetch has started, so n finished.
	if !testwait.Until(10*time.Second, func() bool { return keys.Fetches() >= before+n+1 }) {
		t.Fatalf("key set did not refresh within 10s: %d fetches, want %d: %v", keys.Fetches()-before, n+1, keys.LastError())
	}
}

// verifyObserved is v.Verify(tok), and whether the token cache answered.
func verifyObserved(ctx context.Context, v *Verifier, tok Token) (*Claims, bool, error) {
	var o Observer
	c, err := v.Verify(WithObserver(ctx, &o), tok)
	return c, o.CacheHit, err
}

func TestCacheHitReturnsTheVerifiedClaims(t *testing.T) {
	p := authntest.NewProvider(t)
	v, _ := cachedVerifier(t, p, DefaultCacheSize, nil)
	ctx := context.Background()
	alice := Token(p.Token(t, map[string]any{"sub": "alice"}))
	bob := Token(p.Token(t, map[string]any{"sub": "bob"}))
	first, err := v.Verify(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	again, hit, err := verifyObserved(ctx, v, alice)
	if err != nil || !hit {
		t.Errorf("Verify(alice) again: cache hit %v, %v; want a hit", hit, err)
	}
	// The cache keeps the payload as text: decoded again, it is the same.
	if again.Subject != first.Subject || !slices.Equal(again.Scopes, first.Scopes) || !again.ExpiresAt.Equal(first.ExpiresAt) ||
		again.Issuer != first.Issuer || !slices.Equal(again.Audiences, first.Audiences) || !reflect.DeepEqual(again.Payload(), first.Payload()) {
		t.Errorf("cached claims = %+v, payload %v; want %+v, payload %v", again, again.Payload(), first, first.Payload())
	}
	if c, err := v.Verify(ctx, bob); err != nil || c.Subject != "bob" {
		t.Errorf("Verify(bob) = %+v, %v; want bob's own claims", c, err)
	}
	if n := v.cache.len(); n != 2 {
		t.Errorf("cache holds %d tokens, want 2", n)
	}
}

func TestCacheOffStoresNothing(t *testing.T) {
	for _, size := range []int{0, -1} {
		t.Run(fmt.Sprintf("size_%d", size), func(t *testing.T) {
			p := authntest.NewProvider(t)
			v, _ := cachedVerifier(t, p, size, nil)
			tok := Token(p.Token(t, nil))
			if _, err := v.Verify(context.Background(), tok); err != nil {
				t.Fatal(err)
			}
			if _, hit, err := verifyObserved(context.Background(), v, tok); err != nil || hit {
				t.Errorf("Verify() again: cache hit %v, %v; want a full check with the cache off", hit, err)
			}
			if v.cache != nil {
				t.Errorf("cache = %v, want nil for CacheSize %d", v.cache, size)
			}
		})
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
			v, keys := cachedVerifier(t, p, DefaultCacheSize, nil)
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
	v, keys := cachedVerifier(t, p, DefaultCacheSize, nil)
	ctx := context.Background()
	tok := Token(authntest.SignWithHeader(t, p.Key(), map[string]any{"alg": "RS256"}, p.Claims()))
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	awaitFetches(t, keys, keys.Fetches(), 2)
	if _, hit, err := verifyObserved(ctx, v, tok); err != nil || !hit {
		t.Errorf("Verify(no kid) after refetch: cache hit %v, %v; want a hit", hit, err)
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
			v, _ := cachedVerifier(t, p, DefaultCacheSize, clk.now)
			// iat from the test's clock, not the (later, on a busy machine)
			// moment of minting, unless the row sets it.
			claims := map[string]any{"iat": start.Unix()}
			maps.Copy(claims, tt.claims)
			tok := Token(p.Token(t, claims))
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
			fresh, err2 := NewVerifier(v.issuers[p.Issuer].keys, VerifierConfig{
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

// testKey is a distinct cache key per i.
func testKey(i int) cacheKey { return cacheKey{byte(i), byte(i >> 8), byte(i >> 16), byte(i >> 24)} }

func TestCacheIsBounded(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		inserts int
	}{
		{"one", 1, 10},
		{"small", 100, 1000},
		{"default", DefaultCacheSize, 3 * DefaultCacheSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTokenCache(tt.size)
			for i := range tt.inserts {
				c.lru.Add(testKey(i), &cacheEntry{})
				if n := c.len(); n > tt.size {
					t.Fatalf("after %d inserts the cache holds %d, want at most %d", i+1, n, tt.size)
				}
			}
			if n := c.len(); n != tt.size {
				t.Errorf("cache holds %d after %d inserts, want %d (full)", n, tt.inserts, tt.size)
			}
		})
	}
}

func TestCacheKeepsHotEntry(t *testing.T) {
	c := newTokenCache(100)
	hot := cacheKey{0xff}
	c.lru.Add(hot, &cacheEntry{})
	for i := range 1000 {
		c.lru.Add(testKey(i), &cacheEntry{})
		if _, ok := c.lru.Get(hot); !ok {
			t.Fatalf("hot entry evicted after %d other inserts", i+1)
		}
	}
}

// TestCacheHitRatio replays access sequences through the cache: a working
// set that fits must be served from it once warm, whatever the order, so
// that no client that could be remembered pays a signature check.
func TestCacheHitRatio(t *testing.T) {
	const size = 10_000
	tests := []struct {
		name    string
		clients int     // distinct tokens
		uniform bool    // uniform random order (else round robin)
		minHits float64 // after one pass over the clients
	}{
		{"uniform_9000_of_10000", 9000, true, 1},
		{"round_robin_9000_of_10000", 9000, false, 1},
		{"uniform_exactly_full", size, true, 1},
		// Twice the size: an LRU cannot keep up with a uniform stream, but
		// it must still serve about the share that fits.
		{"uniform_twice_the_size", 2 * size, true, 0.45},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTokenCache(size)
			rng := rand.New(rand.NewPCG(1, 2))
			next := func(i int) int {
				if tt.uniform {
					return rng.IntN(tt.clients)
				}
				return i % tt.clients
			}
			for i := range tt.clients { // warm-up: every client once
				c.lru.Add(testKey(i), &cacheEntry{})
			}
			const lookups = 100_000
			hits := 0
			for i := range lookups {
				k := testKey(next(i))
				if _, ok := c.lru.Get(k); ok {
					hits++
					continue
				}
				c.lru.Add(k, &cacheEntry{})
			}
			if ratio := float64(hits) / lookups; ratio < tt.minHits {
				t.Errorf("hit ratio %.4f over %d lookups of %d clients in a cache of %d, want at least %.2f", ratio, lookups, tt.clients, size, tt.minHits)
			}
		})
	}
}

// TestCacheHitRatioThroughVerify is the same promise end to end, scaled
// down to keep token minting short: 900 distinct tokens replayed in random
// order through a cache of 1000 never reach the signature check again.
func TestCacheHitRatioThroughVerify(t *testing.T) {
	p := authntest.NewProvider(t)
	v, _ := cachedVerifier(t, p, 1000, nil)
	const clients = 900
	tokens := make([]Token, clients)
	ctx := context.Background()
	for i := range tokens {
		tokens[i] = Token(p.Token(t, map[string]any{"sub": fmt.Sprintf("user-%d", i)}))
		if _, err := v.Verify(ctx, tokens[i]); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	misses := 0
	for range 20_000 {
		n := rng.IntN(clients)
		c, hit, err := verifyObserved(ctx, v, tokens[n])
		if err != nil {
			t.Fatalf("Verify(user-%d) = %v", n, err)
		}
		if !hit || c.Subject != fmt.Sprintf("user-%d", n) {
			misses++
		}
	}
	if misses != 0 {
		t.Errorf("%d of 20000 replays missed the cache, want 0", misses)
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
	authntest.StartKeys(b, keys)
	ctx := context.Background()
	v, err := NewVerifier(keys, VerifierConfig{Issuer: p.Issuer, Audience: authntest.Audience, Algorithms: []string{"RS256"}, CacheSize: DefaultCacheSize})
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

// digest reuses its buffer: each digest must still be the SHA-256 of its
// own token alone, whatever length came before.
func TestTokenCacheDigest(t *testing.T) {
	c := newTokenCache(1)
	for _, raw := range []string{strings.Repeat("a", 900), "b", "", strings.Repeat("c.", 4000), "d.e.f"} {
		if got, want := c.digest(raw), cacheKey(sha256.Sum256([]byte(raw))); got != want {
			t.Errorf("digest(%.20q) = %x, want %x", raw, got, want)
		}
	}
}

// The token cache keeps claims without their decoded payload; the first
// caller that asks decodes it once, concurrently with other callers, and
// gets the payload the full check saw.
func TestCachedClaimsDecodePayloadOnce(t *testing.T) {
	p := authntest.NewProvider(t)
	v, _ := cachedVerifier(t, p, DefaultCacheSize, nil)
	ctx := context.Background()
	tok := Token(p.Token(t, map[string]any{"sub": "alice", "tenant": "acme", "roles": []any{"a", "b"}}))
	first, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	cached, hit, err := verifyObserved(ctx, v, tok)
	if err != nil || !hit {
		t.Fatalf("Verify() again: cache hit %v, %v; want a hit", hit, err)
	}
	if cached == first || cached.payload != nil {
		t.Fatalf("the cache holds the decoded payload (%v); want its text only", cached.payload)
	}
	const readers = 8
	got := make([]map[string]any, readers)
	var wg sync.WaitGroup
	for i := range readers {
		wg.Go(func() { got[i] = cached.Payload() })
	}
	wg.Wait()
	for i, m := range got {
		if !reflect.DeepEqual(m, first.Payload()) {
			t.Errorf("reader %d: Payload() = %v, want %v", i, m, first.Payload())
		}
		if i > 0 && reflect.ValueOf(m).UnsafePointer() != reflect.ValueOf(got[0]).UnsafePointer() {
			t.Errorf("reader %d decoded its own payload; want one decoding shared", i)
		}
	}
}
