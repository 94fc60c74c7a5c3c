package authn

import (
	"crypto"
	"crypto/sha256"
	"slices"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// DefaultCacheSize is the token cache size the server configures: enough for
// every client of a busy API to reuse its token. An entry for a typical
// access token holds about 0.6 KiB of heap (the claims with the payload as
// text; see Claims.Payload), so a full cache about 6 MiB, and about 1 KiB
// once a policy that reads claims has had the payload decoded.
// VerifierConfig.CacheSize 0 means no cache.
const DefaultCacheSize = 10_000

// tokenCache remembers tokens that verified, so that a client replaying its
// token skips the signature check. It only ever short-cuts a success: on
// any doubt (expired, not yet valid, signing key gone) the lookup misses and
// the full verification runs and gives its own answer and description.
// Failures are never cached.
//
// Entries are keyed by the SHA-256 of the token and the container compares
// whole keys (a map, not a hash-indexed sketch): a collision would hand one
// token's claims to another, so the key must be collision-resistant, not
// merely hard to guess. Storing the digest rather than the token also keeps
// the raw credential out of the cache. The container is a plain LRU: every
// sequence of distinct tokens that fits is served from it.
type tokenCache struct {
	lru *lru.Cache[cacheKey, *cacheEntry]
	// bufs hold a token while it is hashed (digest).
	bufs sync.Pool // *[]byte
}

type cacheKey [sha256.Size]byte

type cacheEntry struct {
	claims *Claims
	// keys and key verified the signature; the entry is used only while
	// that key set still holds the key under the same kid.
	keys *KeySet
	key  *verificationKey
	// until is exp plus skew; notBefore is the later of nbf and iat minus
	// skew (zero when neither is set). The same bounds the claim checks use.
	until, notBefore time.Time
}

// newTokenCache returns a cache for size tokens, nil when size is 0 or
// negative (off).
func newTokenCache(size int) *tokenCache {
	if size <= 0 {
		return nil
	}
	c, err := lru.New[cacheKey, *cacheEntry](size)
	if err != nil { // only for size <= 0
		return nil
	}
	return &tokenCache{lru: c}
}

// cachedClaims returns the cache key of raw and, when a still-valid entry
// exists, its claims. With the cache off it returns a zero key and nil.
func (v *Verifier) cachedClaims(raw string) (cacheKey, *Claims) {
	if v.cache == nil {
		return cacheKey{}, nil
	}
	k := v.cache.digest(raw)
	e, ok := v.cache.lru.Get(k)
	if !ok {
		return k, nil
	}
	now := v.now()
	if !now.Before(e.until) || now.Before(e.notBefore) || !e.keys.holds(e.key) {
		// Fall through to the full check, which refuses with its own
		// description or, after a key set refresh, verifies again.
		return k, nil
	}
	return k, e.claims
}

// digest is the SHA-256 of raw. sha256.Sum256 takes a slice that escapes,
// so hashing []byte(raw) copied every token to the heap first: a kilobyte
// of garbage per request, a large part of what a replayed request gave
// the collector. The copy goes to a pooled buffer instead, cleared after
// use so that no token lingers in it.
func (c *tokenCache) digest(raw string) cacheKey {
	bp, _ := c.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	b := append((*bp)[:0], raw...)
	k := cacheKey(sha256.Sum256(b))
	clear(b)
	if cap(b) <= maxPooledToken { // an odd huge token is not kept around
		*bp = b
		c.bufs.Put(bp)
	}
	return k
}

// maxPooledToken bounds the buffers digest keeps: real access tokens are
// a few kilobytes.
const maxPooledToken = 16 << 10

// remember caches claims that verified with key from keys; notBefore is
// the later of their nbf and iat (zero for neither). The claims must not be
// modified afterwards: they are shared by every request with this token.
func (v *Verifier) remember(k cacheKey, claims *Claims, notBefore time.Time, keys *KeySet, key *verificationKey) {
	if v.cache == nil || key == nil {
		return
	}
	// The entry keeps the claims without their decoded payload: most
	// policies never read it, and a full cache holds 10 000 of them.
	e := &cacheEntry{claims: claims.withoutPayload(), keys: keys, key: key, until: claims.ExpiresAt.Add(v.skew)}
	if !notBefore.IsZero() {
		e.notBefore = notBefore.Add(-v.skew)
	}
	v.cache.lru.Add(k, e)
}

// len counts the cached entries; for tests.
func (c *tokenCache) len() int { return c.lru.Len() }

// holds reports whether the current key set still has key: the same entry,
// or (after a refresh, which rebuilds every entry) the same kid, alg and
// public key. A key that was rotated out or replaced no longer vouches for
// the tokens it signed.
func (k *KeySet) holds(key *verificationKey) bool {
	idx := k.current.Load()
	if idx == nil {
		return false
	}
	if key.kid != "" {
		return sameKey(idx.byKID[key.kid], key)
	}
	return slices.ContainsFunc(idx.all, func(cur *verificationKey) bool { return sameKey(cur, key) })
}

func sameKey(cur, key *verificationKey) bool {
	if cur == key {
		return true
	}
	if cur == nil || cur.kid != key.kid || cur.alg != key.alg {
		return false
	}
	pub, ok := cur.pub.(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(key.pub)
}
