package authz

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/policygate/policygate/internal/testfile"
)

// shippedRego is the shipped policy, to pair with generated data.
func shippedRego(t testing.TB) string {
	t.Helper()
	src, err := os.ReadFile("../../policies/authz/authz.rego")
	if err != nil {
		t.Fatal(err)
	}
	return string(src)
}

func routesJSON(t testing.TB, routes, hosts any) string {
	t.Helper()
	data := map[string]any{"routes": routes}
	if hosts != nil {
		data["hosts"] = hosts
	}
	raw, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// A table that is not canonical is refused at activation, naming the key:
// a fresh start fails, a reload or a data write keeps the previous
// version serving.
func TestActivationRefusesNonCanonicalTables(t *testing.T) {
	const bad = `{"routes": {"/a/*/b": {"GET": {"access": "public"}}}}`
	const good = `{"routes": {"/a/{id}": {"GET": {"access": "public"}}}}`
	t.Run("fresh_start_fails", func(t *testing.T) {
		dir := t.TempDir()
		testfile.Write(t, filepath.Join(dir, "authz/authz.rego"), shippedRego(t))
		testfile.Write(t, filepath.Join(dir, "authz/data.json"), bad)
		e, err := New(context.Background(), Config{PolicyDir: dir})
		if err == nil {
			e.Stop(context.Background())
			t.Fatal("New() = nil error for a table with a \"*\" inside, want a refusal")
		}
		if !strings.Contains(err.Error(), `"/a/*/b"`) {
			t.Errorf("New() = %v, want the key named", err)
		}
	})
	t.Run("reload_keeps_previous", func(t *testing.T) {
		dir := t.TempDir()
		testfile.Write(t, filepath.Join(dir, "authz/authz.rego"), shippedRego(t))
		testfile.Write(t, filepath.Join(dir, "authz/data.json"), good)
		e := engineFor(t, nil, Config{PolicyDir: dir})
		in := Input{Method: "GET", Path: []string{"a", "1"}}
		if d := decide(t, e, in); !d.Allowed {
			t.Fatalf("Decide() = %+v before the edit", d)
		}
		rev := e.Revision()
		testfile.Write(t, filepath.Join(dir, "authz/data.json"), bad)
		err := e.Reload(context.Background())
		if err == nil || !strings.Contains(err.Error(), `"/a/*/b"`) {
			t.Errorf("Reload() = %v, want a refusal naming the key", err)
		}
		if d := decide(t, e, in); !d.Allowed || e.Revision() != rev {
			t.Errorf("after a refused reload: %+v, revision %s (was %s); want the previous version", d, e.Revision(), rev)
		}
		if s := e.Status(); !strings.Contains(s.LastError, `"/a/*/b"`) {
			t.Errorf("Status().LastError = %q, want the key named", s.LastError)
		}
	})
	t.Run("data_write_refused", func(t *testing.T) {
		e := engineFor(t, map[string]string{"authz/authz.rego": shippedRego(t), "authz/data.json": good}, Config{})
		ctx := context.Background()
		err := storage.WriteOne(ctx, e.manager.Store, storage.AddOp, storage.Path{"authz", "routes", "/x/{a}/{a}"},
			map[string]any{"GET": map[string]any{"access": "public"}})
		if err == nil || !strings.Contains(err.Error(), `"/x/{a}/{a}"`) {
			t.Errorf("write of a bad key = %v, want a refusal naming it", err)
		}
		if d := decide(t, e, Input{Method: "GET", Path: []string{"a", "1"}}); !d.Allowed {
			t.Errorf("Decide() after a refused write = %+v", d)
		}
	})
	t.Run("data_write_rebuilds_index", func(t *testing.T) {
		e := engineFor(t, map[string]string{"authz/authz.rego": shippedRego(t), "authz/data.json": good}, Config{})
		ctx := context.Background()
		in := Input{Method: "GET", Path: []string{"b", "1"}}
		if d := decide(t, e, in); d.Reason != ReasonNoRoute {
			t.Fatalf("Decide() = %+v before the write, want no_route", d)
		}
		err := storage.WriteOne(ctx, e.manager.Store, storage.AddOp, storage.Path{"authz", "routes", "/b/{id}"},
			map[string]any{"GET": map[string]any{"access": "public"}})
		if err != nil {
			t.Fatal(err)
		}
		if d := decide(t, e, in); !d.Allowed || strings.Join(d.Routes, ",") != "/b/{id}" {
			t.Errorf("Decide() after the write = %+v, want allowed by /b/{id}", d)
		}
	})
}

// bigTable is n routes, half of them "{param}" patterns and some ending in
// "*", plus the shipped three.
func bigTable(n int) map[string]any {
	routes := map[string]any{
		"/api/public":         map[string]any{"GET": map[string]any{"access": "public"}},
		"/api/private":        map[string]any{"GET": map[string]any{"access": "authenticated"}},
		"/api/private-scoped": map[string]any{"GET": map[string]any{"access": "authenticated", "scopes": []any{"read:messages"}}},
	}
	for i := range n / 2 {
		routes[fmt.Sprintf("/api/svc%d/status", i)] = map[string]any{"GET": map[string]any{"access": "public"}}
		rule := map[string]any{"access": "authenticated", "scopes": []any{fmt.Sprintf("read:svc%d", i%7)}}
		switch {
		case i%10 == 0:
			routes[fmt.Sprintf("/api/svc%d/files/*", i)] = map[string]any{"GET": rule}
		default:
			routes[fmt.Sprintf("/api/svc%d/items/{id}", i)] = map[string]any{"GET": rule, "DELETE": map[string]any{"access": "authenticated", "scopes": []any{"admin"}}}
		}
	}
	return routes
}

// Ids in paths do not defeat the cache: 20 000 distinct ids on one pattern
// route are one decision, unless a rule binds the id.
func TestDecisionCacheSharesIDs(t *testing.T) {
	e := engineFor(t, map[string]string{
		"authz/authz.rego": shippedRego(t),
		"authz/data.json":  routesJSON(t, bigTable(2000), nil),
	}, Config{})
	claims := map[string]any{"sub": "alice"}
	const n = 20_000
	for i := range n {
		d := decide(t, e, Input{Method: "GET", Path: []string{"api", "svc17", "items", fmt.Sprint(i)}, Claims: claims, Scopes: []string{"read:svc3"}})
		if !d.Allowed || d.Reason != ReasonScopesGranted {
			t.Fatalf("Decide(id %d) = %+v", i, d)
		}
	}
	if hits, entries := e.decisions.hits.Load(), e.decisions.len(); hits != n-1 || entries != 1 {
		t.Errorf("%d decisions: %d hits, %d entries; want %d hits and one entry", n, hits, entries, n-1)
	}
}

// Real inputs, built by the engine, satisfy policies/schemas/input.json.
func TestInputsMatchSchema(t *testing.T) {
	raw, err := os.ReadFile("../../policies/schemas/input.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema any
	if err := util.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	query, err := rego.New(rego.Query("[ok, errs] := json.match_schema(input, data.schema)"),
		rego.Store(inmem.NewFromObject(map[string]any{"schema": schema}))).PrepareForEval(ctx)
	if err != nil {
		t.Fatal(err)
	}
	x := mustIndex(t, `{"/api/public": {"GET": {"access": "public"}},
		"/users/{id}/files/*": {"*": {"access": "authenticated", "audiences": ["a"], "claims": {"sub": {"equals_param": "id"}, "n": {"equals": 1.5}}}}}`, "")
	claims := map[string]any{"sub": "alice", "aud": []any{"a", "b"}, "n": json.Number("1.5"), "nested": map[string]any{"x": nil}}
	inputs := []Input{
		{Method: "GET", Path: []string{"api", "public"}},
		{Method: "GET", Path: []string{}},
		{Method: "PUT", Host: "api.example.com", Path: []string{"users", "alice", "files", "x", ""}, Issuer: "https://i/", Claims: claims, Scopes: []string{"read:files"}},
		{Method: "GET", Path: []string{"nowhere"}, Claims: map[string]any{}, Scopes: nil},
		{Method: "HEAD", Path: []string{"users", "bob", "files", "x"}, Claims: map[string]any{"aud": "a"}, Scopes: []string{}},
	}
	for i, in := range inputs {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			r := &request{Input: &in, keys: x.match(in.Host, in.Method, in.Path, false)}
			v, err := r.value(nil)
			if err != nil {
				t.Fatal(err)
			}
			rs, err := query.Eval(ctx, rego.EvalParsedInput(v))
			if err != nil || len(rs) != 1 {
				t.Fatalf("match_schema = %v, %v", rs, err)
			}
			if rs[0].Bindings["ok"] != true {
				t.Errorf("input %v does not match the schema: %v", v, rs[0].Bindings["errs"])
			}
			if i == 2 && !strings.Contains(v.String(), `"bound": {"claims": {"aud": ["a", "b"], "n": 1.5, "sub": "alice"}, "params": {"/users/{id}/files/*": {"id": "alice"}}}`) {
				t.Errorf("input %v: bound is not what the rule names", v)
			}
		})
	}
}

// Every decision on large generated tables (patterns, "*" methods, host
// tables, overlapping keys) is the same with the cache on and off.
func TestDecisionCacheChangesNoAnswerAtScale(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	routes := bigTable(2000)
	for k, v := range genTableScoped(rng, 300) {
		routes[k] = v
	}
	hosts := map[string]any{"admin.example.com": map[string]any{"routes": genTableScoped(rng, 100)}}
	files := map[string]string{"authz/authz.rego": shippedRego(t), "authz/data.json": routesJSON(t, routes, hosts)}
	on := engineFor(t, files, Config{})
	off := engineFor(t, files, Config{DecisionCacheSize: -1})
	scopeSets := [][]string{nil, {"read:svc3"}, {"s1"}, {"s1", "s2", "admin"}}
	var inputs []Input
	for i := range 600 {
		in := Input{Method: []string{"GET", "POST", "HEAD", "DELETE"}[i%4], Path: genPath(rng)}
		switch i % 3 {
		case 0:
			in.Path = []string{"api", fmt.Sprintf("svc%d", rng.IntN(1000)), []string{"items", "files", "status"}[rng.IntN(3)], fmt.Sprint(rng.IntN(50))}
		case 1:
			in.Host = "admin.example.com"
		}
		if rng.IntN(3) > 0 {
			in.Claims, in.Scopes = map[string]any{"sub": fmt.Sprint(rng.IntN(5))}, scopeSets[rng.IntN(len(scopeSets))]
		}
		inputs = append(inputs, in)
	}
	for round := range 2 {
		for i, in := range inputs {
			got, want := decide(t, on, in), decide(t, off, in)
			got.ID, want.ID = "", ""
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("round %d input %d %+v: cache on = %+v, off = %+v", round, i, in, got, want)
			}
		}
	}
	if on.decisions.hits.Load() < uint64(len(inputs)) {
		t.Errorf("hits = %d, want at least %d", on.decisions.hits.Load(), len(inputs))
	}
}

// genTableScoped is genTable with rules that differ by scope.
func genTableScoped(rng *rand.Rand, n int) map[string]any {
	table := genTable(rng, n)
	for _, rules := range table {
		for m := range rules.(map[string]any) {
			switch rng.IntN(3) {
			case 0:
				rules.(map[string]any)[m] = map[string]any{"access": "authenticated"}
			case 1:
				rules.(map[string]any)[m] = map[string]any{"access": "authenticated", "scopes": []any{[]string{"s1", "s2", "admin"}[rng.IntN(3)]}}
			}
		}
	}
	return table
}
