package authz

import (
	"maps"
	"slices"
	"strings"
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/open-policy-agent/opa/v1/ast"
)

// DefaultDecisionCacheSize is how many decisions the server has an Engine
// remember unless DECISION_CACHE_SIZE says otherwise. Keys hold only what the policy reads (for
// the shipped policy: method, host, matched routes, bound values, scopes and
// whether a token verified), so distinct tokens with the same scopes share
// one entry, and so do distinct ids on one pattern route unless a rule binds
// them.
const DefaultDecisionCacheSize = 10_000

// inputUse is what one compiled policy can read of its input, found by
// walking its compiled modules, and whether its decisions may be cached.
//
// Soundness rests on one fact: a compiled policy reads the input only
// through references rooted at `input` (imports are resolved, and the
// compiler's rewrites, such as `__local0__ = input.path` for `some x in
// input.path`, only make references shorter, hence coarser). Two inputs that
// agree on every path below therefore get the same decision from the same
// policy and data.
type inputUse struct {
	// cacheable is false when a decision can differ for the same input,
	// policy and data (a non-deterministic or clock-reading built-in) or
	// has a side effect (print); why says which.
	cacheable bool
	why       string
	// whole: the policy reads the input as a whole (`input`, `input[x]`);
	// the key is then the whole input.
	whole bool
	// paths are the input paths read (each the longest leading run of
	// constant strings of a reference), sorted, none a prefix of another.
	paths [][]string
	// read are the top-level fields of paths (nil when whole).
	read map[string]bool
}

// uncacheableBuiltins read the clock, the network, the environment or a
// random source, or are marked non-deterministic by OPA (checked too, so
// built-ins added in later OPA versions count). OPA does not mark
// io.jwt.decode_verify or the x509 verifiers, which compare with the clock.
var uncacheableBuiltins = map[string]bool{
	"time.now_ns": true, "http.send": true, "opa.runtime": true, "rand.intn": true,
	"uuid.rfc4122": true, "net.lookup_ip_addr": true, "io.jwt.decode_verify": true,
	"io.jwt.encode_sign": true, "io.jwt.encode_sign_raw": true,
	"crypto.x509.parse_and_verify_certificates":              true,
	"crypto.x509.parse_and_verify_certificates_with_options": true,
	"print": true, "internal.print": true, // a side effect on every decision
	"trace": true,
}

func uncacheable(name string) bool {
	if uncacheableBuiltins[name] {
		return true
	}
	b, ok := ast.BuiltinMap[name]
	return ok && b.Nondeterministic
}

var systemRef = ast.MustParseRef("data.system")

// analyzeInput finds what c's modules read of the input.
//
// Modules under data.system (the decision-log mask) read the claims but
// never decide; they are left out, unless another module could reach them:
// a reference into data.system, or one whose package is not a constant
// (`data[x]`), makes them count like the rest.
func analyzeInput(c *ast.Compiler) inputUse {
	u := inputUse{cacheable: true}
	var paths, systemPaths [][]string
	reachesSystem := false
	for _, name := range slices.Sorted(maps.Keys(c.Modules)) {
		m := c.Modules[name]
		system := m.Package.Path.HasPrefix(systemRef)
		ast.WalkRefs(m, func(r ast.Ref) bool {
			if u.cacheable && uncacheable(r.String()) {
				u.cacheable, u.why = false, "the policy calls "+r.String()
			}
			switch {
			case r[0].Equal(ast.InputRootDocument):
				p := groundPath(r)
				if system {
					systemPaths = append(systemPaths, p)
				} else {
					paths = append(paths, p)
				}
			case r[0].Equal(ast.DefaultRootDocument) && !system:
				if len(r) < 2 || !r[1].IsGround() || r.HasPrefix(systemRef) {
					reachesSystem = true
				} else if _, ok := r[1].Value.(ast.String); !ok {
					reachesSystem = true
				}
			}
			return false
		})
	}
	if c.Required != nil {
		for _, b := range c.Required.Builtins {
			if u.cacheable && uncacheable(b.Name) {
				u.cacheable, u.why = false, "the policy calls "+b.Name
			}
		}
	}
	if reachesSystem {
		paths = append(paths, systemPaths...)
	}
	u.paths = collapse(paths)
	u.whole = len(u.paths) == 1 && len(u.paths[0]) == 0
	u.read = u.fields()
	return u
}

// groundPath is the longest leading run of constant strings after `input`.
func groundPath(r ast.Ref) []string {
	var p []string
	for _, t := range r[1:] {
		s, ok := t.Value.(ast.String)
		if !ok {
			break
		}
		p = append(p, string(s))
	}
	return p
}

// collapse sorts paths and drops duplicates and every path that extends
// another: reading input.claims covers reading input.claims.sub.
func collapse(paths [][]string) [][]string {
	slices.SortFunc(paths, slices.Compare)
	var out [][]string
	for _, p := range paths {
		if n := len(out); n > 0 && hasPrefix(p, out[n-1]) {
			continue
		}
		out = append(out, p)
	}
	return out
}

func hasPrefix(p, prefix []string) bool {
	return len(p) >= len(prefix) && slices.Equal(p[:len(prefix)], prefix)
}

// absent stands for a path the input does not have. An input holds only
// JSON values (Go builds it, claims are decoded JSON), never a set, so it
// differs from every value including null.
var absent = ast.NewTerm(ast.NewSet())

// key is the projection of r onto the paths the policy reads: equal keys
// mean the policy cannot tell the two inputs apart. Decisions are keyed by
// inputKey, which encodes the same projection without building it; key
// is the reference TestInputKeyMatchesValue holds it to.
func (u *inputUse) key(r *request) (ast.Value, error) {
	if u.whole {
		return r.value(nil)
	}
	buf := make(termBuf, 0, len(u.paths)+len(r.Path)+len(r.Scopes))
	terms := make([]*ast.Term, len(u.paths))
	for i, p := range u.paths {
		v, err := r.lookup(p, &buf)
		switch {
		case err != nil:
			return nil, err
		case v == nil:
			terms[i] = absent
		default:
			terms[i] = buf.term(v)
		}
	}
	return ast.NewArray(terms...), nil
}

// fields are the input's top-level fields the policy reads; nil when it
// reads the input as a whole. The policy is evaluated on exactly these:
// it cannot tell an input without the others from the whole one.
func (u *inputUse) fields() map[string]bool {
	if u.whole {
		return nil
	}
	read := make(map[string]bool, len(u.paths))
	for _, p := range u.paths {
		read[p[0]] = true
	}
	return read
}

// maxEntryBytes bounds what one cached decision may hold of its own: its
// key plus the strings of its decision. A decision that would need more is
// evaluated every time and never stored, so the cache holds at most its
// size times (maxEntryBytes plus a fixed overhead of about half a KiB) and
// a client cannot grow it with long path parameters or claims that a rule
// binds (equals_param puts the value in the key, and anonymous 401s are
// cached too).
//
// Real keys hold far less: the shipped policy's key is the method, the
// host (at most 253 bytes as a DNS name), the matched route keys, the
// token's scopes and the bound values (an id, a subject, a tenant), about
// a hundred bytes; 1 KiB still leaves room for some forty 20-byte scopes.
// At the bound, 20 000 cached decisions take about 30 MiB of heap
// (BenchmarkCacheMemoryLongIDs).
const maxEntryBytes = 1 << 10

// decisionCache remembers decisions by input key and policy version, in an
// LRU (hashicorp/golang-lru, as the token cache): any working set of up to
// size keys stays whole. Keys are compared whole, as strings (cacheKey), so
// a hash collision never returns another input's decision. Entries are
// bounded in bytes too (maxEntryBytes).
type decisionCache struct {
	lru          *lru.Cache[string, *decisionEntry]
	hits, misses atomic.Uint64
}

type decisionEntry struct {
	version  uint64
	decision Decision // without ID; its slices are never handed out
}

// newDecisionCache returns a cache for size decisions, nil (off) when size
// is 0 or less.
func newDecisionCache(size int) *decisionCache {
	if size <= 0 {
		return nil
	}
	l, err := lru.New[string, *decisionEntry](size)
	if err != nil { // only for a size below 1, excluded above
		return nil
	}
	return &decisionCache{lru: l}
}

// get returns the decision stored for key at version. A key longer than
// maxEntryBytes is never stored, so it misses without a lookup.
func (c *decisionCache) get(key string, version uint64) (Decision, bool) {
	if len(key) > maxEntryBytes {
		c.misses.Add(1)
		return Decision{}, false
	}
	if e, ok := c.lru.Get(key); ok && e.version == version {
		c.hits.Add(1)
		return e.decision, true
	}
	c.misses.Add(1)
	return Decision{}, false
}

// put stores d for key at version, unless key and d together hold more
// than maxEntryBytes.
func (c *decisionCache) put(key string, version uint64, d Decision) {
	size := entryBytes(key, &d)
	if size > maxEntryBytes {
		return
	}
	d.ID = ""
	d.cloneLists()
	d.ownStrings(size - len(key))
	c.lru.Add(key, &decisionEntry{version: version, decision: d})
}

// ownStrings copies d's strings into one allocation of their own. A string
// a policy takes from a claim (a header, or a reason or scope a custom
// policy copies) shares the claim's storage, which is a substring of the
// whole token payload (authn parses it as one copy): kept as is, every
// cached decision would hold a whole payload alive, and its size would not
// be what entryBytes counted. d's lists and headers must be its own;
// size is entryBytes of d without a key (what put has counted already).
func (d *Decision) ownStrings(size int) {
	var b strings.Builder
	b.Grow(size)
	own := func(s string) string {
		start := b.Len()
		b.WriteString(s)
		return b.String()[start:]
	}
	d.Reason = own(d.Reason)
	for _, list := range [...][]string{d.RequiredScopes, d.AnyScopes, d.MissingScopes, d.FailedClaims} {
		for i, s := range list {
			list[i] = own(s)
		}
	}
	for name, v := range d.Headers {
		d.Headers[name] = own(v)
	}
}

// entryBytes is what a cached decision holds that varies per entry: its
// key and the strings of d (Routes and DeclaredHeaders are set per answer,
// never stored).
func entryBytes(key string, d *Decision) int {
	n := len(key) + len(d.Reason)
	for _, list := range [...][]string{d.RequiredScopes, d.AnyScopes, d.MissingScopes, d.FailedClaims} {
		for _, s := range list {
			n += len(s)
		}
	}
	for name, v := range d.Headers {
		n += len(name) + len(v)
	}
	return n
}

// len counts the cached entries; for tests.
func (c *decisionCache) len() int { return c.lru.Len() }
