package authz

import (
	"fmt"
	"strings"
	"testing"
)

// boundRoute binds the path parameter id to the subject: the id goes into
// the decision-cache key, for anonymous requests too.
const boundRoute = `{"routes": {"/users/{id}": {"GET": {"access": "authenticated", "claims": {"sub": {"equals_param": "id"}}}}}}`

// Long bound values are decided but never cached: distinct 30 KB ids,
// anonymous or with the matching subject, leave the cache empty, while a
// normal id is still cached and answered from it. Answers are those of an
// engine without a cache.
func TestDecisionCacheSkipsLongKeys(t *testing.T) {
	files := map[string]string{"authz/authz.rego": shippedRego(t), "authz/data.json": boundRoute}
	on := engineFor(t, files, Config{})
	off := engineFor(t, files, Config{DecisionCacheSize: -1})
	const n = 200
	for i := range n {
		id := fmt.Sprintf("%06d", i) + strings.Repeat("x", 30_000)
		for _, in := range []Input{
			{Method: "GET", Path: []string{"users", id}},
			{Method: "GET", Path: []string{"users", id}, Claims: map[string]any{"sub": id}},
			{Method: "GET", Path: []string{"users", id}, Claims: map[string]any{"sub": "alice"}},
		} {
			got, want := decide(t, on, in), decide(t, off, in)
			got.ID, want.ID = "", ""
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("id %d, claims %v: cache on = %+v, off = %+v", i, in.Claims, got, want)
			}
			if wantAllowed := in.Claims != nil && in.Claims["sub"] == id; got.Allowed != wantAllowed {
				t.Fatalf("id %d, claims %v: allowed = %v, want %v", i, in.Claims, got.Allowed, wantAllowed)
			}
		}
	}
	if entries, hits := on.decisions.len(), on.decisions.hits.Load(); entries != 0 || hits != 0 {
		t.Errorf("after %d decisions with 30 KB bound ids: %d entries, %d hits; want none", 3*n, entries, hits)
	}

	for _, in := range []Input{
		{Method: "GET", Path: []string{"users", "123456"}},
		{Method: "GET", Path: []string{"users", "123456"}, Claims: map[string]any{"sub": "123456"}},
	} {
		hits := on.decisions.hits.Load()
		first, second := decide(t, on, in), decide(t, on, in)
		first.ID, second.ID = "", ""
		if fmt.Sprint(first) != fmt.Sprint(second) {
			t.Errorf("claims %v: from the cache %+v, evaluated %+v", in.Claims, second, first)
		}
		if got := on.decisions.hits.Load() - hits; got != 1 {
			t.Errorf("claims %v: a normal id decided twice hit the cache %d times, want 1", in.Claims, got)
		}
	}
	if entries := on.decisions.len(); entries != 2 {
		t.Errorf("%d entries after two normal inputs, want 2", entries)
	}
}

// put stores an entry up to maxEntryBytes of key and decision strings, and
// nothing beyond; get never finds a longer key.
func TestDecisionCacheEntryBound(t *testing.T) {
	tests := []struct {
		name       string
		keyLen     int
		decision   Decision
		wantStored bool
	}{
		{name: "short", keyLen: 100, decision: Decision{Reason: "r"}, wantStored: true},
		{name: "key_at_bound", keyLen: maxEntryBytes, wantStored: true},
		{name: "key_over_bound", keyLen: maxEntryBytes + 1},
		{name: "key_and_reason_over_bound", keyLen: maxEntryBytes, decision: Decision{Reason: "r"}},
		{name: "large_header", keyLen: 100, decision: Decision{Allowed: true, Headers: map[string]string{"X-A": strings.Repeat("v", maxEntryBytes)}}},
		{name: "large_scope_list", keyLen: 100, decision: Decision{RequiredScopes: []string{strings.Repeat("s", maxEntryBytes/2), strings.Repeat("t", maxEntryBytes/2)}}},
		{name: "large_failed_claims", keyLen: 100, decision: Decision{FailedClaims: []string{strings.Repeat("c", maxEntryBytes)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newDecisionCache(10)
			key := strings.Repeat("k", tc.keyLen)
			c.put(key, 1, tc.decision)
			if got := c.len(); got != map[bool]int{false: 0, true: 1}[tc.wantStored] {
				t.Errorf("%d entries after put, want stored = %v", got, tc.wantStored)
			}
			if _, ok := c.get(key, 1); ok != tc.wantStored {
				t.Errorf("get found = %v, want %v", ok, tc.wantStored)
			}
		})
	}
}
