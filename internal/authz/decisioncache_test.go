package authz

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"

	"github.com/policygate/policygate/internal/testfile"
)

// engineFor starts an engine on a policy folder written from files.
// engineFor starts an engine over files (or cfg.PolicyDir), with the
// server's default decision cache unless cfg says otherwise (-1: off).
func engineFor(t *testing.T, files map[string]string, cfg Config) *Engine {
	t.Helper()
	if cfg.DecisionCacheSize == 0 {
		cfg.DecisionCacheSize = DefaultDecisionCacheSize
	}
	if cfg.PolicyDir == "" {
		cfg.PolicyDir = testfile.Dir(t, files)
	}
	e, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Stop(context.Background()) })
	select {
	case <-e.Ready():
	case <-time.After(20 * time.Second):
		t.Fatalf("policy not active within 20s: %s", e.Status().LastError)
	}
	return e
}

func decide(t *testing.T, e *Engine, in Input) Decision {
	t.Helper()
	d, err := e.Decide(context.Background(), in)
	if err != nil {
		t.Fatalf("Decide(%+v) error: %v", in, err)
	}
	return d
}

// use is what the engine found the active policy reads.
func use(t *testing.T, e *Engine) inputUse {
	t.Helper()
	e.Decide(context.Background(), Input{Method: "GET", Path: []string{"x"}}) // prepares; the answer may be undefined
	return e.evaluator.prepared.Load().use
}

func decisionRego(body string) map[string]string {
	return map[string]string{"authz/authz.rego": "package authz\n\n" + body + "\n"}
}

func TestAnalyzeInput(t *testing.T) {
	const logMask = "package system.log\n\nmask contains \"/input/claims/email\" if input.input.claims.email\n"
	tests := []struct {
		name      string
		files     map[string]string
		wantPaths string // paths joined with "." and ",", "" for the whole input
		wantWhole bool
		wantWhy   string // "" when cacheable
	}{
		{name: "nothing", files: decisionRego(`decision := {"allowed": true}`), wantPaths: ""},
		{name: "claim", files: decisionRego(`decision := {"allowed": input.claims.sub == "a"}`), wantPaths: "claims.sub"},
		{name: "claim_and_claims", files: decisionRego("decision := {\"allowed\": input.claims.sub == \"a\", \"reason\": r} if {\n\tsome r, _ in input.claims\n}"), wantPaths: "claims"},
		{name: "dynamic_claim", files: decisionRego("decision := {\"allowed\": input.claims[k] == 1} if {\n\tsome k in [\"a\", \"b\"]\n}"), wantPaths: "claims"},
		{name: "local_copy", files: decisionRego("decision := {\"allowed\": c.sub == \"a\"} if {\n\tc := input.claims\n}"), wantPaths: "claims"},
		{name: "import_alias", files: decisionRego("import input.claims as c\n\ndecision := {\"allowed\": c.sub == \"a\"}"), wantPaths: "claims.sub"},
		{name: "index_into_path", files: decisionRego(`decision := {"allowed": input.path[0] == "a", "reason": input.method}`), wantPaths: "method,path"},
		{name: "whole_input", files: decisionRego(`decision := {"allowed": count(input) > 2}`), wantWhole: true},
		{name: "input_any_key", files: decisionRego("decision := {\"allowed\": true} if {\n\tsome k in [\"a\"]\n\tinput[k]\n}"), wantWhole: true},
		{name: "time", files: decisionRego(`decision := {"allowed": time.now_ns() > 0}`), wantPaths: "", wantWhy: "time.now_ns"},
		{name: "http_send", files: decisionRego(`decision := {"allowed": http.send({"method": "GET", "url": "http://127.0.0.1:1/"}).status_code == 200}`), wantPaths: "", wantWhy: "http.send"},
		{name: "random", files: decisionRego(`decision := {"allowed": rand.intn("x", 2) == 1}`), wantPaths: "", wantWhy: "rand.intn"},
		{name: "jwt_clock", files: decisionRego(`decision := {"allowed": io.jwt.decode_verify(input.claims.t, {"secret": "s"})[0]}`), wantPaths: "claims.t", wantWhy: "io.jwt.decode_verify"},
		{name: "print", files: decisionRego("decision := {\"allowed\": true} if {\n\tprint(input.method)\n}"), wantPaths: "method", wantWhy: "print"},
		{name: "log_mask_left_out", files: map[string]string{
			"authz/authz.rego": "package authz\n\ndecision := {\"allowed\": input.method == \"GET\"}\n", "system/log/mask.rego": logMask,
		}, wantPaths: "method"},
		{name: "log_mask_reached_by_name", files: map[string]string{
			"authz/authz.rego": "package authz\n\ndecision := {\"allowed\": count(data.system.log.mask) == 0}\n", "system/log/mask.rego": logMask,
		}, wantPaths: "input.claims.email"},
		{name: "log_mask_reached_dynamically", files: map[string]string{
			"authz/authz.rego": "package authz\n\ndecision := {\"allowed\": true} if {\n\tsome p in [\"system\"]\n\tdata[p]\n}\n", "system/log/mask.rego": logMask,
		}, wantPaths: "input.claims.email"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := use(t, engineFor(t, tt.files, Config{}))
			var got []string
			for _, p := range u.paths {
				got = append(got, strings.Join(p, "."))
			}
			if u.whole != tt.wantWhole || !tt.wantWhole && strings.Join(got, ",") != tt.wantPaths {
				t.Errorf("paths = %q (whole %v), want %q (whole %v)", got, u.whole, tt.wantPaths, tt.wantWhole)
			}
			if tt.wantWhy == "" && !u.cacheable || tt.wantWhy != "" && (u.cacheable || !strings.Contains(u.why, tt.wantWhy)) {
				t.Errorf("cacheable = %v (%s), want why %q", u.cacheable, u.why, tt.wantWhy)
			}
		})
	}
	t.Run("shipped", func(t *testing.T) {
		u := use(t, engineFor(t, nil, Config{PolicyDir: "../../policies"}))
		// Never the path or the claims: ids in paths and distinct tokens
		// share decisions.
		want := [][]string{{"authenticated"}, {"bound", "claims"}, {"bound", "params"}, {"host"}, {"method"}, {"routes"}, {"scopes"}}
		if !u.cacheable || u.whole || !slices.EqualFunc(u.paths, want, slices.Equal) {
			t.Errorf("shipped policy reads %q (whole %v, cacheable %v), want %q", u.paths, u.whole, u.cacheable, want)
		}
	})
}

// keyTestClaims are claims of every JSON kind, nested, for the tests
// that compare ways of reading the input.
// keyTestRequests is a route index with a claim-bound pattern route and
// requests with claims (keyTestClaims, with a tenant) against it.
func keyTestRequests(t *testing.T) (*routeIndex, []Input) {
	t.Helper()
	claims := keyTestClaims()
	claims["tenant"] = "t1"
	x, err := buildIndex(ast.MustParseTerm(`{
		"/api/x": {"GET": {"access": "public"}},
		"/api/{id}": {"*": {"access": "authenticated", "claims": {"sub": {"equals_param": "id"}, "tenant": {"equals": "t1"}}}},
		"/api/{id}/*": {"GET": {"access": "authenticated"}}}`).Value, nil)
	if err != nil {
		t.Fatal(err)
	}
	return x, []Input{
		{Method: "POST", Host: "a.example", Path: []string{}, Issuer: "https://i/", Claims: claims, Scopes: []string{"read", "write"}},
		{Method: "GET", Path: nil, Claims: map[string]any{}, Scopes: nil},
		{Method: "GET", Path: []string{"api", "alice"}, Issuer: "https://i/", Claims: claims, Scopes: []string{"read"}},
		{Method: "DELETE", Path: []string{"api", "bob", "x", "y"}, Claims: map[string]any{"sub": "bob"}},
	}
}

func keyTestClaims() map[string]any {
	return map[string]any{
		"sub": "alice", "n": json.Number("3"), "null": nil, "list": []any{"a", map[string]any{"x": 1}},
		"obj": map[string]any{"a": map[string]any{"b": true}, "s": "str"},
	}
}

// The whole test depends on this: lookup agrees with the input the policy
// is given, for every kind of path.
func TestLookupMatchesInput(t *testing.T) {
	claims := keyTestClaims()
	x, err := buildIndex(ast.MustParseTerm(`{"/api/x": {"GET": {"access": "public"}}, "/api/{id}": {"*": {"access": "public"}}}`).Value, nil)
	if err != nil {
		t.Fatal(err)
	}
	inputs := []Input{
		{Method: "GET", Path: []string{"api", "x"}},
		{Method: "POST", Host: "a.example", Path: []string{}, Issuer: "https://i/", Claims: claims, Scopes: []string{"read", "write"}},
		{Method: "GET", Path: nil, Claims: map[string]any{}, Scopes: nil},
	}
	paths := [][]string{
		{"method"}, {"method", "x"}, {"host"}, {"path"}, {"path", "0"}, {"authenticated"}, {"authenticated", "x"},
		{"routes"}, {"params"}, {"params", "/api/{id}"}, {"params", "/api/{id}", "id"}, {"params", "/api/x", "id"},
		{"bound"}, {"bound", "params"}, {"bound", "claims", "sub"}, {"issuer"},
		{"scopes"}, {"scopes", "x"}, {"claims"}, {"claims", "sub"}, {"claims", "n"}, {"claims", "null"},
		{"claims", "missing"}, {"claims", "sub", "x"}, {"claims", "list"}, {"claims", "list", "0"},
		{"claims", "obj", "a", "b"}, {"claims", "obj", "a", "c"}, {"claims", "obj", "s", "x"}, {"other"}, {},
	}
	for i, in := range inputs {
		r := &request{Input: &in, keys: x.match(in.Host, in.Method, in.Path, false)}
		whole, err := r.value(nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range paths {
			t.Run(fmt.Sprintf("%d/%s", i, strings.Join(p, ".")), func(t *testing.T) {
				ref := make(ast.Ref, len(p))
				for j, s := range p {
					ref[j] = ast.StringTerm(s)
				}
				want, err := whole.Find(ref)
				if err != nil {
					want = nil
				}
				got, err := r.lookup(p, nil)
				if err != nil {
					t.Fatal(err)
				}
				if (got == nil) != (want == nil) || got != nil && got.Compare(want) != 0 {
					t.Errorf("lookup(%v) = %v, want %v", p, got, want)
				}
			})
		}
	}
}

func TestDecisionCacheNeverMixesKeys(t *testing.T) {
	c := newDecisionCache(4)
	a, b := cacheKey(ast.String("a")), cacheKey(ast.String("b"))
	c.put(a, 1, Decision{Reason: "a"})
	if d, ok := c.get(b, 1); ok {
		t.Errorf("get(b) = %+v, want a miss", d)
	}
	if d, ok := c.get(a, 1); !ok || d.Reason != "a" {
		t.Errorf("get(a) = %+v, %v, want a's decision", d, ok)
	}
	if d, ok := c.get(a, 2); ok {
		t.Errorf("get(a) at another version = %+v, want a miss", d)
	}
	c.put(b, 1, Decision{Reason: "b"})
	c.put(a, 2, Decision{Reason: "a2"})
	if d, _ := c.get(b, 1); d.Reason != "b" {
		t.Errorf("get(b) = %+v, want b's decision", d)
	}
	if d, _ := c.get(a, 2); d.Reason != "a2" {
		t.Errorf("get(a) = %+v, want the newer decision", d)
	}
	for i := range 100 {
		c.put(cacheKey(ast.Number(fmt.Sprint(i))), 1, Decision{})
	}
	if n := c.len(); n > 4 {
		t.Errorf("cache of 4 holds %d entries", n)
	}
	if c := newDecisionCache(-1); c != nil {
		t.Errorf("newDecisionCache(-1) = %v, want nil (off)", c)
	}
}

// Different values never share a key: the encoding is injective over the
// values an input can hold, including the ones a naive join would confuse.
func TestCacheKeyIsInjective(t *testing.T) {
	values := []string{
		`null`, `true`, `false`, `0`, `1`, `"1"`, `""`, `"a"`, `"ab"`, `["a","b"]`, `["ab"]`, `["a b"]`,
		`[]`, `{}`, `[[]]`, `[{}]`, `{"a":"b"}`, `{"a":["b"]}`, `{"ab":""}`, `{"a":"","b":""}`,
		`{"b":"","a":"x"}`, `["a",["b"]]`, `[["a"],"b"]`, `set()`, `{"s"}`, `[null]`, `[1,2]`, `[12]`,
	}
	seen := map[string]string{}
	for _, src := range values {
		v := ast.MustParseTerm(src).Value
		k := cacheKey(v)
		if other, dup := seen[k]; dup {
			t.Errorf("cacheKey(%s) = cacheKey(%s)", src, other)
		}
		seen[k] = src
	}
	// Object keys in any order give one key.
	x, y := ast.MustParseTerm(`{"a":1,"b":[2,3]}`).Value, ast.MustParseTerm(`{"b":[2,3],"a":1}`).Value
	if cacheKey(x) != cacheKey(y) {
		t.Errorf("cacheKey differs for the same object in another key order")
	}
}

// A working set that fits is served from the cache: 10 000 keys in a cache
// of 10 000, walked in order and then at random, all hit once seen (the
// hand-written two-generation cache this replaced kept only about half its
// nominal size).
func TestDecisionCacheHitRatio(t *testing.T) {
	const size, keys = 10_000, 10_000
	c := newDecisionCache(size)
	key := func(i int) string { return cacheKey(ast.Number(fmt.Sprint(i))) }
	for i := range keys {
		c.put(key(i), 1, Decision{Reason: "r"})
	}
	rng := rand.New(rand.NewPCG(1, 2))
	misses := 0
	for n := range 3 * keys {
		i := n % keys
		if n >= keys {
			i = rng.IntN(keys)
		}
		if _, ok := c.get(key(i), 1); !ok {
			misses++
			c.put(key(i), 1, Decision{Reason: "r"})
		}
	}
	if misses != 0 {
		t.Errorf("%d of %d lookups of a working set that fits missed, want 0", misses, 3*keys)
	}
}

const (
	subRego = "default decision := {\"allowed\": false, \"reason\": \"default\"}\n\n" +
		`decision := {"allowed": input.claims.sub == "alice", "reason": sprintf("%v", [input.claims.sub])}`
	wholeRego = `decision := {"allowed": count(input) > 3, "reason": sprintf("%v", [input])}`
)

// Every input gets the same decision with the cache on and off, and each
// decision a fresh id.
func TestDecisionCacheChangesNoAnswer(t *testing.T) {
	inputs := []Input{
		{Method: "GET", Path: []string{"api", "public"}},
		{Method: "GET", Path: []string{"api", "private"}},
		{Method: "GET", Path: []string{"api", "private"}, Claims: map[string]any{"sub": "alice"}},
		{Method: "GET", Path: []string{"api", "private"}, Claims: map[string]any{"sub": "bob"}},
		{Method: "GET", Path: []string{"api", "private"}, Claims: map[string]any{}},
		{Method: "GET", Path: []string{"api", "private-scoped"}, Claims: map[string]any{"sub": "alice"}},
		{Method: "GET", Path: []string{"api", "private-scoped"}, Claims: map[string]any{"sub": "alice"}, Scopes: []string{"read:messages"}},
		{Method: "GET", Path: []string{"api", "private-scoped"}, Claims: map[string]any{"sub": "bob", "x": 1}, Scopes: []string{"read:messages"}},
		{Method: "GET", Path: []string{"api", "private-scoped"}, Scopes: []string{"read:messages"}},
		{Method: "POST", Path: []string{"api", "private-scoped"}, Claims: map[string]any{"sub": "alice"}, Scopes: []string{"read:messages"}},
		{Method: "GET", Path: []string{"api", "private-scoped", "x"}},
		{Method: "GET", Path: []string{"api", "private"}, Claims: map[string]any{"sub": nil}},
		{Method: "GET", Path: []string{"api", "private"}, Claims: map[string]any{"sub": map[string]any{"alice": true}}},
	}
	policies := []struct {
		name  string
		files map[string]string
		dir   string
	}{
		{name: "shipped", dir: "../../policies"},
		{name: "claims_sub", files: decisionRego(subRego)},
		{name: "whole_input", files: decisionRego(wholeRego)},
	}
	for _, p := range policies {
		t.Run(p.name, func(t *testing.T) {
			on := engineFor(t, p.files, Config{PolicyDir: p.dir})
			off := engineFor(t, p.files, Config{PolicyDir: p.dir, DecisionCacheSize: -1})
			ids := map[string]bool{}
			for round := range 3 { // the second and third rounds hit
				for i, in := range inputs {
					got, want := decide(t, on, in), decide(t, off, in)
					if ids[got.ID] || got.ID == "" {
						t.Errorf("decision id %q repeated", got.ID)
					}
					ids[got.ID] = true
					got.ID, want.ID = "", ""
					if fmt.Sprint(got) != fmt.Sprint(want) {
						t.Errorf("round %d input %d: cache on = %+v, off = %+v", round, i, got, want)
					}
				}
			}
			if hits := on.decisions.hits.Load(); hits < uint64(2*len(inputs)) {
				t.Errorf("cache hits = %d, want at least %d", hits, 2*len(inputs))
			}
			if off.decisions != nil {
				t.Error("DecisionCacheSize -1 left the cache on")
			}
		})
	}
}

// A cached decision is a copy: changing what Decide returned changes no
// later answer.
func TestDecisionCacheHandsOutCopies(t *testing.T) {
	e := engineFor(t, nil, Config{PolicyDir: "../../policies"})
	in := Input{Method: "GET", Path: []string{"api", "private-scoped"}, Claims: map[string]any{}}
	decide(t, e, in).MissingScopes[0] = "changed"
	decide(t, e, in).RequiredScopes[0] = "changed"
	if d := decide(t, e, in); d.MissingScopes[0] != "read:messages" || d.RequiredScopes[0] != "read:messages" {
		t.Errorf("Decide() = %+v after callers changed earlier answers", d)
	}
}

func TestDecisionCacheProjection(t *testing.T) {
	t.Run("shipped_policy_shares_across_tokens", func(t *testing.T) {
		e := engineFor(t, nil, Config{PolicyDir: "../../policies"})
		alice := Input{Method: "GET", Path: []string{"api", "private-scoped"}, Claims: map[string]any{"sub": "alice", "jti": "1"}, Scopes: []string{"read:messages"}}
		bob := Input{Method: "GET", Path: []string{"api", "private-scoped"}, Claims: map[string]any{"sub": "bob", "jti": "2", "email": "b@example.com"}, Scopes: []string{"read:messages"}}
		decide(t, e, alice)
		if d := decide(t, e, bob); !d.Allowed || e.decisions.hits.Load() != 1 || e.decisions.len() != 1 {
			t.Errorf("bob: %+v, hits %d, entries %d; want allowed from alice's entry", d, e.decisions.hits.Load(), e.decisions.len())
		}
		bob.Scopes = nil
		if d := decide(t, e, bob); d.Allowed || e.decisions.len() != 2 {
			t.Errorf("bob without scopes: %+v, entries %d; want a denial of its own", d, e.decisions.len())
		}
	})
	t.Run("claims_sub_distinguishes_subjects", func(t *testing.T) {
		e := engineFor(t, decisionRego(subRego), Config{})
		for range 2 {
			for _, sub := range []string{"alice", "bob"} {
				in := Input{Method: "GET", Path: []string{"x"}, Claims: map[string]any{"sub": sub}}
				if d := decide(t, e, in); d.Reason != sub || d.Allowed != (sub == "alice") {
					t.Errorf("Decide(sub %s) = %+v", sub, d)
				}
			}
		}
		if hits := e.decisions.hits.Load(); hits != 2 {
			t.Errorf("hits = %d, want 2 (the second round)", hits)
		}
	})
	t.Run("non_deterministic_never_cached", func(t *testing.T) {
		for _, rego := range []string{
			`decision := {"allowed": true, "reason": sprintf("%d", [time.now_ns()])}`,
			`decision := {"allowed": true} if http.send({"method": "GET", "url": "http://127.0.0.1:1/", "raise_error": false})`,
		} {
			e := engineFor(t, decisionRego(rego), Config{})
			var reasons []string
			for range 3 {
				reasons = append(reasons, decide(t, e, Input{Method: "GET", Path: []string{"x"}}).Reason)
			}
			if e.decisions.len() != 0 || e.decisions.hits.Load() != 0 {
				t.Errorf("%s: %d entries, %d hits; want none", rego, e.decisions.len(), e.decisions.hits.Load())
			}
			if strings.Contains(rego, "time") && reasons[0] == reasons[2] {
				t.Errorf("time.now_ns() answered %q twice", reasons[0])
			}
		}
	})
	t.Run("decision_logs_log_every_decision", func(t *testing.T) {
		var console bytes.Buffer
		e := engineFor(t, nil, Config{PolicyDir: "../../policies", DecisionLogs: true, Console: &console})
		in := Input{Method: "GET", Path: []string{"api", "public"}}
		const n = 5
		for range n {
			decide(t, e, in)
		}
		if e.decisions != nil {
			t.Error("decision cache on with decision logs")
		}
		if got := strings.Count(console.String(), `"openpolicyagent.org/decision_logs"`); got != n {
			t.Errorf("%d decisions logged, want %d", got, n)
		}
	})
}

// A policy edit, a data edit (a new bundle) and a write to the store alone
// each take effect on the next decision although the old answer is cached.
func TestDecisionCacheFollowsChanges(t *testing.T) {
	const rego = "package authz\n\ndecision := {\"allowed\": true, \"reason\": concat(\"+\", [\"v1\", data.authz.access])}\n"
	dir := t.TempDir()
	testfile.Write(t, filepath.Join(dir, "authz/authz.rego"), rego)
	testfile.Write(t, filepath.Join(dir, "authz/data.json"), `{"access": "public"}`)
	e := engineFor(t, nil, Config{PolicyDir: dir})
	in := Input{Method: "GET", Path: []string{"x"}}
	reason := func(want string) {
		t.Helper()
		hits := e.decisions.hits.Load()
		if got := decide(t, e, in).Reason; got != want {
			t.Errorf("reason = %q, want %q", got, want)
		}
		if got := decide(t, e, in).Reason; got != want || e.decisions.hits.Load() == hits {
			t.Errorf("reason = %q (hits %d -> %d), want %q from the cache", got, hits, e.decisions.hits.Load(), want)
		}
	}
	reason("v1+public")

	testfile.Write(t, filepath.Join(dir, "authz/data.json"), `{"access": "authenticated"}`)
	if err := e.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	reason("v1+authenticated")

	testfile.Write(t, filepath.Join(dir, "authz/authz.rego"), strings.Replace(rego, "v1", "v2", 1))
	if err := e.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	reason("v2+authenticated")

	// A store write outside any bundle activation: only the store trigger
	// sees it.
	ctx := context.Background()
	path := storage.MustParsePath("/authz/access")
	if err := storage.WriteOne(ctx, e.manager.Store, storage.ReplaceOp, path, "nobody"); err != nil {
		t.Fatal(err)
	}
	reason("v2+nobody")
}

// inputKey encodes straight from the request what u.key builds as a value:
// both must give the same key for every kind of path, for inputs with and
// without claims and routes, and for bound values that are not empty.
func TestInputKeyMatchesValue(t *testing.T) {
	x, authenticated := keyTestRequests(t)
	inputs := append([]Input{{Method: "GET", Path: []string{"api", "x"}}}, authenticated...)
	pathSets := [][][]string{
		{{"authenticated"}, {"bound", "claims"}, {"bound", "params"}, {"host"}, {"method"}, {"routes"}, {"scopes"}},
		{{"issuer"}, {"path"}, {"params"}},
		{{"bound"}},
		{{"bound", "claims", "sub"}, {"bound", "other"}, {"bound", "params", "/api/{id}"}},
		{{"claims"}},
		{{"claims", "sub"}, {"claims", "obj", "a"}, {"claims", "missing"}, {"method", "x"}, {"path", "0"}, {"scopes", "1"}},
		{{"other"}, {"authenticated", "x"}},
	}
	for i, in := range inputs {
		r := &request{Input: &in, keys: x.match(in.Host, in.Method, in.Path, false)}
		for j, paths := range pathSets {
			t.Run(fmt.Sprintf("input%d/paths%d", i, j), func(t *testing.T) {
				u := inputUse{paths: paths}
				v, err := u.key(r)
				if err != nil {
					t.Fatal(err)
				}
				got, err := u.inputKey(r)
				if err != nil {
					t.Fatal(err)
				}
				if want := cacheKey(v); got != want {
					t.Errorf("inputKey = %q, want cacheKey(%v) = %q", got, v, want)
				}
			})
		}
	}
	t.Run("whole", func(t *testing.T) {
		in := inputs[3]
		r := &request{Input: &in, keys: x.match(in.Host, in.Method, in.Path, false)}
		u := inputUse{paths: [][]string{{}}, whole: true}
		v, _ := u.key(r)
		if got, err := u.inputKey(r); err != nil || got != cacheKey(v) {
			t.Errorf("inputKey = %q, %v, want %q", got, err, cacheKey(v))
		}
	})
}

// Decision ids are version 4 UUIDs (RFC 9562: version and variant bits
// set, the rest random), all different.
func TestNewDecisionID(t *testing.T) {
	seen := map[string]bool{}
	for range 2000 {
		id, err := newDecisionID()
		if err != nil {
			t.Fatal(err)
		}
		u, err := uuid.Parse(id)
		if err != nil || u.Version() != 4 || u.Variant() != uuid.RFC4122 || u.String() != id {
			t.Fatalf("newDecisionID() = %q (%v), want a version 4 RFC 9562 UUID", id, err)
		}
		if seen[id] {
			t.Fatalf("newDecisionID() = %q twice", id)
		}
		seen[id] = true
	}
}
