package authn

import (
	"crypto"
	"crypto/sha256"
	"slices"
	"sync"
	"time"
)

// DefaultCacheSize is how many verified tokens a Verifier remembers when
// VerifierConfig.CacheSize is 0: enough for every client of a busy API to
// reuse its token. An entry for a typical access token (8 claims) holds
// about 1 KiB of heap, so a full default cache about 10 MiB.
const DefaultCacheSize = 10_000

// tokenCache remembers tokens that verified, so that a client replaying its
// token skips the signature check. It only ever short-cuts a success: on
// any doubt (expired, not yet valid, signing key gone) the lookup misses and
// the full verification runs and gives its own answer and description.
// Failures are never cached.
//
// Entries are keyed by the SHA-256 of the token: a collision would hand one
// token's claims to another, so the key must be collision-resistant, not
// merely hard to guess. Storing the digest rather than the token also keeps
// the raw credential out of the cache.
//
// Each shard keeps two generations (maps): lookups that hit the older one
// move the entry to the current one, and when the current one fills up it
// becomes the older one and the previous older one is dropped. That is an
// approximate LRU with O(1) work and no per-entry list, bounded at
// 2 x shards x generation entries.
type tokenCache struct {
	shards []cacheShard
	gen    int // entries per generation per shard
}

type cacheKey [sha256.Size]byte

type cacheEntry struct {
	claims *Claims
	// key verified the signature; the entry is used only while the key set
	// still holds it under the same kid.
	key *verificationKey
	// until is exp plus skew; notBefore is the later of nbf and iat minus
	// skew (zero when neither is set). The same bounds the claim checks use.
	until, notBefore time.Time
}

type cacheShard struct {
	mu       sync.Mutex
	cur, old map[cacheKey]*cacheEntry
}

// newTokenCache returns a cache for size tokens, nil when size is negative
// (off); 0 means DefaultCacheSize.
func newTokenCache(size int) *tokenCache {
	switch {
	case size < 0:
		return nil
	case size == 0:
		size = DefaultCacheSize
	}
	shards := 1
	if size >= 1024 {
		shards = 16 // fewer lock collisions; each shard still holds 32+ entries
	}
	gen := max(size/(2*shards), 1)
	c := &tokenCache{shards: make([]cacheShard, shards), gen: gen}
	for i := range c.shards {
		c.shards[i].cur = make(map[cacheKey]*cacheEntry)
	}
	return c
}

func (c *tokenCache) shard(k *cacheKey) *cacheShard {
	return &c.shards[int(k[0])%len(c.shards)]
}

// cachedClaims returns the cache key of raw and, when a still-valid entry
// exists, its claims. With the cache off it returns a zero key and nil.
func (v *Verifier) cachedClaims(raw string) (cacheKey, *Claims) {
	if v.cache == nil {
		return cacheKey{}, nil
	}
	k := cacheKey(sha256.Sum256([]byte(raw)))
	e := v.cache.get(&k)
	if e == nil {
		return k, nil
	}
	now := v.now()
	if !now.Before(e.until) || now.Before(e.notBefore) || !v.keys.holds(e.key) {
		// Fall through to the full check, which refuses with its own
		// description or, after a key set refresh, verifies again.
		return k, nil
	}
	return k, e.claims
}

// remember caches claims that verified with key. The claims must not be
// modified afterwards: they are shared by every request with this token.
func (v *Verifier) remember(k cacheKey, claims *Claims, key *verificationKey) {
	if v.cache == nil || key == nil {
		return
	}
	e := &cacheEntry{claims: claims, key: key, until: claims.ExpiresAt.Add(v.skew)}
	for _, name := range []string{"nbf", "iat"} {
		if t, ok, err := numericDate(claims.Payload, name); err == nil && ok && t.After(e.notBefore) {
			e.notBefore = t
		}
	}
	if !e.notBefore.IsZero() {
		e.notBefore = e.notBefore.Add(-v.skew)
	}
	v.cache.put(&k, e)
}

func (c *tokenCache) get(k *cacheKey) *cacheEntry {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.cur[*k]; ok {
		return e
	}
	e, ok := s.old[*k]
	if !ok {
		return nil
	}
	delete(s.old, *k)
	s.addLocked(k, e, c.gen)
	return e
}

func (c *tokenCache) put(k *cacheKey, e *cacheEntry) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.old, *k)
	s.addLocked(k, e, c.gen)
}

func (s *cacheShard) addLocked(k *cacheKey, e *cacheEntry, gen int) {
	if _, ok := s.cur[*k]; !ok && len(s.cur) >= gen {
		s.old, s.cur = s.cur, make(map[cacheKey]*cacheEntry, gen)
	}
	s.cur[*k] = e
}

// len counts the cached entries; for tests.
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.cur) + len(s.old)
		s.mu.Unlock()
	}
	return n
}

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
