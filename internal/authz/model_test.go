package authz

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/tester"
)

// regoCases evaluates a document of the Rego tests (their tables of
// rules), so Go checks its own reading against the very cases the policy
// is tested with.
func regoCases(t *testing.T, query string) map[string]any {
	t.Helper()
	modules, store, err := tester.Load([]string{"../../policies", "../../policies_test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := []func(*rego.Rego){rego.Query(query), rego.Store(store)}
	for _, m := range modules {
		opts = append(opts, rego.ParsedModule(m))
	}
	rs, err := rego.New(opts...).Eval(context.Background())
	if err != nil || len(rs) != 1 {
		t.Fatalf("%s = %v, %v", query, rs, err)
	}
	return rs[0].Expressions[0].Value.(map[string]any)
}

// Go refuses at activation every rule the policy calls invalid_rule, and
// accepts every rule the policy's tests decide with: Go reads the rule
// kinds with the schema the Rego validates.
func TestRuleSchemaMatchesRego(t *testing.T) {
	tables := map[string]any{}
	for name, routes := range regoCases(t, "data.authz_test.invalid_rule_cases") {
		tables["authz_test/"+name] = routes
	}
	for name, rule := range regoCases(t, "data.model_test.invalid_model_cases") {
		tables["model_test/"+name] = map[string]any{"/x": map[string]any{"GET": rule}}
	}
	for name, routes := range tables {
		t.Run("refused/"+name, func(t *testing.T) {
			v, err := ast.InterfaceToValue(routes)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := buildIndex(v, nil); err == nil {
				t.Errorf("buildIndex(%v) = nil error; the policy calls it invalid_rule", routes)
			}
		})
	}
	for _, q := range []string{"data.model_test._routes", "data.authz_test._table_routes", "data.authz.routes"} {
		t.Run("accepted/"+q, func(t *testing.T) {
			v, err := ast.InterfaceToValue(regoCases(t, q))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := buildIndex(v, nil); err != nil {
				t.Errorf("buildIndex(%s) = %v", q, err)
			}
		})
	}
	// What only Go can check: the parameter must be one of the key's.
	t.Run("refused/equals_param_not_in_key", func(t *testing.T) {
		_, err := buildIndex(ast.MustParseTerm(`{"/users/{id}": {"GET": {"access": "authenticated", "claims": {"sub": {"equals_param": "user"}}}}}`).Value, nil)
		if err == nil || !strings.Contains(err.Error(), `routes["/users/{id}"]["GET"]: claim "sub"`) {
			t.Errorf("buildIndex() = %v, want the rule and claim named", err)
		}
	})
}

const modelRoutes = `{"routes": {
	"/users/{id}": {"GET": {"access": "authenticated", "claims": {"sub": {"equals_param": "id", "unless_scopes": ["admin:users"]}}}},
	"/orgs/{org}/invoices": {"GET": {"access": "authenticated", "claims": {"org_id": {"equals_param": "org"}}}},
	"/items/{id}": {"GET": {"access": "authenticated", "scopes": ["read:items"]}},
	"/billing": {"GET": {"access": "authenticated", "audiences": ["https://billing"], "issuers": ["https://a/"]}}
}}`

func TestBoundClaimsAndParams(t *testing.T) {
	e := engineFor(t, map[string]string{"authz/authz.rego": shippedRego(t), "authz/data.json": modelRoutes}, Config{})
	tok := func(sub string, scopes ...string) Input {
		return Input{Method: "GET", Issuer: "https://a/", Claims: map[string]any{"sub": sub, "org_id": "acme", "aud": []any{"https://api", "https://billing"}, "iss": "https://a/"}, Scopes: scopes}
	}
	at := func(in Input, path ...string) Input { in.Path = path; return in }
	tests := []struct {
		name       string
		in         Input
		wantReason string
		wantFailed []string
	}{
		{name: "own_user", in: at(tok("alice"), "users", "alice"), wantReason: ReasonAuthenticated},
		{name: "other_user", in: at(tok("alice"), "users", "bob"), wantReason: ReasonClaimMismatch, wantFailed: []string{"sub"}},
		{name: "other_user_as_admin", in: at(tok("alice", "admin:users"), "users", "bob"), wantReason: ReasonAuthenticated},
		{name: "own_org", in: at(tok("alice"), "orgs", "acme", "invoices"), wantReason: ReasonAuthenticated},
		{name: "other_org", in: at(tok("alice"), "orgs", "globex", "invoices"), wantReason: ReasonClaimMismatch, wantFailed: []string{"org_id"}},
		{name: "audience_and_issuer", in: at(tok("alice"), "billing"), wantReason: ReasonAuthenticated},
		{name: "other_issuer", in: func() Input { in := at(tok("alice"), "billing"); in.Claims["iss"] = "https://b/"; return in }(), wantReason: ReasonIssuerRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 2 { // the second answer comes from the cache
				d := decide(t, e, tt.in)
				if d.Reason != tt.wantReason || !slices.Equal(d.FailedClaims, tt.wantFailed) {
					t.Errorf("Decide(%v) = %+v, want %s failing %q", tt.in.Path, d, tt.wantReason, tt.wantFailed)
				}
			}
		})
	}
	t.Run("bound_holds_only_what_rules_name", func(t *testing.T) {
		x := e.snap.Load().routes
		in := at(tok("alice"), "users", "bob")
		r := &request{Input: &in, keys: x.match("", "GET", in.Path, false)}
		v, err := r.field("bound", nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := `{"claims": {"sub": "alice"}, "params": {"/users/{id}": {"id": "bob"}}}`; v.String() != want {
			t.Errorf("bound = %s, want %s", v, want)
		}
		in = at(tok("alice"), "items", "9")
		r = &request{Input: &in, keys: x.match("", "GET", in.Path, false)}
		if v, _ := r.field("bound", nil); v.String() != `{"claims": {}, "params": {}}` {
			t.Errorf("bound of an unbound route = %s, want empty", v)
		}
	})
}

// One claim-bound route makes no other route per token: distinct subjects
// and ids on an unbound route share one cached decision.
func TestClaimBoundRouteLeavesOthersShared(t *testing.T) {
	e := engineFor(t, map[string]string{"authz/authz.rego": shippedRego(t), "authz/data.json": modelRoutes}, Config{})
	const n = 2000
	for i := range n {
		in := Input{Method: "GET", Path: []string{"items", fmt.Sprint(i)}, Claims: map[string]any{"sub": fmt.Sprint("user", i), "org_id": "acme"}, Scopes: []string{"read:items"}}
		if d := decide(t, e, in); !d.Allowed {
			t.Fatalf("Decide() = %+v", d)
		}
	}
	if hits, entries := e.decisions.hits.Load(), e.decisions.len(); hits != n-1 || entries != 1 {
		t.Errorf("%d decisions on an unbound route: %d hits, %d entries; want %d hits, 1 entry", n, hits, entries, n-1)
	}
	// The bound route keys per subject and id: alice's answer is not bob's.
	for _, sub := range []string{"alice", "bob", "alice"} {
		in := Input{Method: "GET", Path: []string{"users", "alice"}, Claims: map[string]any{"sub": sub}}
		if d := decide(t, e, in); d.Allowed != (sub == "alice") {
			t.Errorf("sub %s on /users/alice: %+v", sub, d)
		}
	}
}

// The differential test with claim-bound rules: cache on and off agree.
func TestDecisionCacheChangesNoAnswerWithBoundRules(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	routes := genTable(rng, 400)
	for key, rules := range routes {
		for m := range rules.(map[string]any) {
			var rule map[string]any
			switch p := strings.Index(key, "{p"); {
			case p >= 0 && rng.IntN(2) == 0:
				name := key[p+1 : strings.IndexByte(key[p:], '}')+p]
				rule = map[string]any{"access": "authenticated", "claims": map[string]any{"sub": map[string]any{"equals_param": name, "unless_scopes": []any{"admin"}}}}
			case rng.IntN(3) == 0:
				rule = map[string]any{"access": "authenticated", "claims": map[string]any{"roles": map[string]any{"contains_any": []any{"admin", "ops"}}}}
			case rng.IntN(3) == 0:
				rule = map[string]any{"access": "authenticated", "any_scopes": []any{"s1", "admin"}, "audiences": []any{"a1"}}
			}
			if rule != nil {
				rules.(map[string]any)[m] = rule
			}
		}
	}
	files := map[string]string{"authz/authz.rego": shippedRego(t), "authz/data.json": routesJSON(t, routes, nil)}
	on := engineFor(t, files, Config{})
	off := engineFor(t, files, Config{DecisionCacheSize: -1})
	var inputs []Input
	for i := range 500 {
		in := Input{Method: []string{"GET", "POST", "HEAD", "DELETE"}[i%4], Path: genPath(rng)}
		if rng.IntN(4) > 0 {
			in.Claims = map[string]any{
				"sub":   []string{"a", "b", "x", "users"}[rng.IntN(4)],
				"roles": [][]any{nil, {"ops"}, {"dev"}}[rng.IntN(3)],
				"aud":   []any{"a1", "a2"}[rng.IntN(2)],
			}
			in.Scopes = [][]string{nil, {"s1"}, {"admin"}}[rng.IntN(3)]
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

// The extension point as docs/policy.md shows it: a custom module in
// package authz adds custom_denials; the cache keys on the one claim it
// reads.
func TestCustomDenials(t *testing.T) {
	const custom = `package authz

# Writes need a verified e-mail address. "not ... == true" also denies
# a token without the claim: "!= true" would be undefined then, and allow.
custom_denials contains "email_not_verified" if {
	input.method in {"POST", "PUT", "PATCH", "DELETE"}
	not input.claims.email_verified == true
}
`
	e := engineFor(t, map[string]string{
		"authz/authz.rego":  shippedRego(t),
		"authz/custom.rego": custom,
		"authz/data.json":   `{"routes": {"/notes": {"*": {"access": "authenticated"}}}}`,
	}, Config{})
	claims := func(verified any) map[string]any { return map[string]any{"sub": "a", "email_verified": verified} }
	tests := []struct {
		name       string
		in         Input
		wantReason string
	}{
		{name: "read_unverified", in: Input{Method: "GET", Path: []string{"notes"}, Claims: claims(false)}, wantReason: ReasonAuthenticated},
		{name: "write_unverified", in: Input{Method: "POST", Path: []string{"notes"}, Claims: claims(false)}, wantReason: ReasonDeniedByPolicy},
		{name: "write_verified", in: Input{Method: "POST", Path: []string{"notes"}, Claims: claims(true)}, wantReason: ReasonAuthenticated},
		{name: "write_without_claim", in: Input{Method: "POST", Path: []string{"notes"}, Claims: map[string]any{"sub": "a"}}, wantReason: ReasonDeniedByPolicy},
		{name: "write_claim_string_true", in: Input{Method: "POST", Path: []string{"notes"}, Claims: claims("true")}, wantReason: ReasonDeniedByPolicy},
		{name: "read_without_claim", in: Input{Method: "GET", Path: []string{"notes"}, Claims: map[string]any{"sub": "a"}}, wantReason: ReasonAuthenticated},
		{name: "write_anonymous", in: Input{Method: "POST", Path: []string{"notes"}}, wantReason: ReasonUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 2 {
				if d := decide(t, e, tt.in); d.Reason != tt.wantReason || d.Allowed != (tt.wantReason == ReasonAuthenticated) {
					t.Errorf("Decide() = %+v, want %s", d, tt.wantReason)
				}
			}
		})
	}
	u := e.evaluator.prepared.Load().use
	if !slices.ContainsFunc(u.paths, func(p []string) bool { return slices.Equal(p, []string{"claims", "email_verified"}) }) {
		t.Errorf("cache key paths = %q, want claims.email_verified among them", u.paths)
	}
}

// A host table's issuers and audiences bind iss and aud on that host, and
// refuse tokens meant for another service behind the same gate.
func TestHostTableConditions(t *testing.T) {
	const data = `{"routes": {"/data": {"GET": {"access": "authenticated"}}},
		"hosts": {"b.example.com": {"routes": {"/data": {"GET": {"access": "authenticated"}}}, "audiences": ["https://b"], "issuers": ["https://i/"]}}}`
	e := engineFor(t, map[string]string{"authz/authz.rego": shippedRego(t), "authz/data.json": data}, Config{})
	tok := func(host, aud string) Input {
		return Input{Method: "GET", Host: host, Path: []string{"data"}, Claims: map[string]any{"sub": "s", "iss": "https://i/", "aud": aud}}
	}
	tests := []struct {
		name       string
		in         Input
		wantReason string
	}{
		{name: "own_audience", in: tok("b.example.com", "https://b"), wantReason: ReasonAuthenticated},
		{name: "token_for_service_a", in: tok("b.example.com", "https://a"), wantReason: ReasonAudienceRefused},
		{name: "default_table_no_audience_rule", in: tok("a.example.com", "https://a"), wantReason: ReasonAuthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := decide(t, e, tt.in); d.Reason != tt.wantReason {
				t.Errorf("Decide() = %+v, want %s", d, tt.wantReason)
			}
		})
	}
	for _, bad := range []string{
		`{"hosts": {"b.example.com": {"routes": {}, "audiences": []}}}`,
		`{"hosts": {"b.example.com": {"routes": {}, "issuers": "https://i/"}}}`,
	} {
		var v map[string]any
		if err := json.Unmarshal([]byte(bad), &v); err != nil {
			t.Fatal(err)
		}
		if err := checkRouteTables(map[string]any{"authz": v}, checks{}); err == nil {
			t.Errorf("checkRouteTables(%s) = nil, want a refusal", bad)
		}
	}
}
