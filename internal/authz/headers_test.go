package authz

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/policygate/policygate/internal/testfile"
)

const headerData = `{"headers": ["X-Auth-Tenant", "x-auth-plan"], "routes": {
	"/orgs/{org}": {"GET": {"access": "authenticated", "headers": {"X-Auth-Tenant": {"claim": "org_id"}}}},
	"/other": {"GET": {"access": "authenticated"}}
}}`

// A rule's headers copy a claim into a declared name; the claim is bound,
// so the decision cache keys on it and never hands one tenant's header to
// another; every decision lists the declared names.
func TestRuleHeaders(t *testing.T) {
	e := engineFor(t, map[string]string{"authz/authz.rego": shippedRego(t), "authz/data.json": headerData}, Config{})
	orgs, other := []string{"orgs", "x"}, []string{"other"}
	in := func(path []string, claims map[string]any) Input {
		return Input{Method: "GET", Path: path, Claims: claims}
	}
	tests := []struct {
		name string
		in   Input
		want map[string]string
	}{
		{name: "acme", in: in(orgs, map[string]any{"sub": "a", "org_id": "acme"}), want: map[string]string{"X-Auth-Tenant": "acme"}},
		{name: "globex", in: in(orgs, map[string]any{"sub": "b", "org_id": "globex"}), want: map[string]string{"X-Auth-Tenant": "globex"}},
		{name: "no_claim", in: in(orgs, map[string]any{"sub": "c"}), want: nil},
		{name: "route_without_headers", in: in(other, map[string]any{"sub": "a", "org_id": "acme"}), want: nil},
		{name: "denied_sets_none", in: in(orgs, nil), want: nil},
	}
	for round := range 2 { // the second round answers from the cache
		for _, tt := range tests {
			d := decide(t, e, tt.in)
			if !maps.Equal(d.Headers, tt.want) {
				t.Errorf("round %d %s: Headers = %v, want %v", round, tt.name, d.Headers, tt.want)
			}
			if want := []string{"X-Auth-Plan", "X-Auth-Tenant"}; !slices.Equal(d.DeclaredHeaders, want) {
				t.Errorf("round %d %s: DeclaredHeaders = %q, want %q", round, tt.name, d.DeclaredHeaders, want)
			}
		}
	}
	if e.decisions == nil || e.decisions.hits.Load() == 0 {
		t.Errorf("the decision cache was not used")
	}
}

// Declarations and the rules' headers are checked at activation: a
// version that breaks them is refused, naming each problem.
func TestHeadersRefusedAtActivation(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		wantErr string
	}{
		{name: "identity_name", data: `{"headers": ["X-Auth-Subject"], "routes": {}}`, wantErr: `"X-Auth-Subject" is an identity header`},
		{name: "identity_name_lower_case", data: `{"headers": ["x-auth-scopes"], "routes": {}}`, wantErr: `"x-auth-scopes" is an identity header`},
		{name: "decision_id", data: `{"headers": ["X-Decision-Id"], "routes": {}}`, wantErr: `does not begin with X-Auth-`},
		{name: "outside_x_auth", data: `{"headers": ["X-Tenant"], "routes": {}}`, wantErr: `"X-Tenant" does not begin with X-Auth-`},
		{name: "prefix_alone", data: `{"headers": ["X-Auth-"], "routes": {}}`, wantErr: `does not begin with X-Auth-`},
		{name: "not_a_token", data: `{"headers": ["X-Auth-Ten ant"], "routes": {}}`, wantErr: `not a valid header name`},
		{name: "underscore", data: `{"headers": ["X-Auth-Ten_ant"], "routes": {}}`, wantErr: `contains "_"`},
		{name: "not_a_list", data: `{"headers": "X-Auth-Tenant", "routes": {}}`, wantErr: `headers: must be an array`},
		{name: "rule_undeclared", data: `{"headers": ["X-Auth-Plan"], "routes": {"/x": {"GET": {"access": "authenticated", "headers": {"X-Auth-Tenant": {"claim": "org_id"}}}}}}`,
			wantErr: `routes["/x"]["GET"]: header "X-Auth-Tenant" is not declared`},
		{name: "rule_no_declarations", data: `{"routes": {"/x": {"GET": {"access": "authenticated", "headers": {"X-Auth-Tenant": {"claim": "org_id"}}}}}}`,
			wantErr: `header "X-Auth-Tenant" is not declared`},
		{name: "rule_spec_not_claim", data: `{"headers": ["X-Auth-Tenant"], "routes": {"/x": {"GET": {"access": "authenticated", "headers": {"X-Auth-Tenant": "org_id"}}}}}`,
			wantErr: `want {"claim": name}`},
		{name: "rule_headers_empty", data: `{"headers": ["X-Auth-Tenant"], "routes": {"/x": {"GET": {"access": "authenticated", "headers": {}}}}}`,
			wantErr: `"headers" must be a non-empty object`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := testfile.Dir(t, map[string]string{"authz/authz.rego": shippedRego(t), "authz/data.json": tt.data})
			e, err := New(context.Background(), Config{PolicyDir: dir})
			if err == nil {
				e.Stop(context.Background())
				t.Fatalf("New() started, want a refusal naming %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("New() = %v, want it to name %q", err, tt.wantErr)
			}
		})
	}
}

// Custom Rego may set decision headers: declared names pass; an allow
// setting an undeclared name is an error (the gate denies), a denial's
// headers are dropped.
func TestDecisionHeadersMustBeDeclared(t *testing.T) {
	const custom = `package authz

custom_headers["X-Auth-Region"] := "eu"

custom_headers["X-Auth-Secret"] := "s" if input.method == "POST"
`
	e := engineFor(t, map[string]string{
		"authz/authz.rego":  shippedRego(t),
		"authz/custom.rego": custom,
		"authz/data.json":   `{"headers": ["X-Auth-Region"], "routes": {"/notes": {"*": {"access": "authenticated"}}}}`,
	}, Config{})
	claims := map[string]any{"sub": "a"}
	d := decide(t, e, Input{Method: "GET", Path: []string{"notes"}, Claims: claims})
	if !d.Allowed || !maps.Equal(d.Headers, map[string]string{"X-Auth-Region": "eu"}) {
		t.Errorf("GET: %+v, want allowed with X-Auth-Region", d)
	}
	for range 2 {
		_, err := e.Decide(context.Background(), Input{Method: "POST", Path: []string{"notes"}, Claims: claims})
		if err == nil || !strings.Contains(err.Error(), "undeclared headers X-Auth-Secret") {
			t.Errorf("POST: Decide() error = %v, want one naming X-Auth-Secret", err)
		}
	}
	if d := decide(t, e, Input{Method: "POST", Path: []string{"notes"}}); d.Allowed || d.Headers != nil {
		t.Errorf("anonymous POST: %+v, want a denial without headers", d)
	}
}

// custom_headers that is not an object (a set of names) denies with
// denied_by_policy, as a malformed custom_denials does, and sets nothing.
func TestCustomHeadersNotAnObject(t *testing.T) {
	e := engineFor(t, map[string]string{
		"authz/authz.rego":  shippedRego(t),
		"authz/custom.rego": "package authz\n\ncustom_headers := {\"X-Auth-Tenant\"}\n",
		"authz/data.json":   `{"headers": ["X-Auth-Tenant"], "routes": {"/orgs/{org}": {"GET": {"access": "authenticated", "headers": {"X-Auth-Tenant": {"claim": "org_id"}}}}}}`,
	}, Config{})
	in := Input{Method: "GET", Path: []string{"orgs", "o1"}, Claims: map[string]any{"sub": "a", "org_id": "o1"}}
	for range 2 {
		if d := decide(t, e, in); d.Allowed || d.Reason != ReasonDeniedByPolicy || d.Headers != nil {
			t.Errorf("Decide() = %+v, want denied_by_policy without headers", d)
		}
	}
}

// Declared names compare without case, and custom_headers wins over a
// rule on the same name however it is spelt.
func TestCustomHeaderOverridesRuleInAnyCase(t *testing.T) {
	for _, name := range []string{"X-Auth-Tenant", "x-auth-tenant", "X-AUTH-TENANT"} {
		t.Run(name, func(t *testing.T) {
			e := engineFor(t, map[string]string{
				"authz/authz.rego":  shippedRego(t),
				"authz/custom.rego": "package authz\n\ncustom_headers := {\"" + name + "\": \"override\"}\n",
				"authz/data.json":   `{"headers": ["X-Auth-Tenant"], "routes": {"/orgs/{org}": {"GET": {"access": "authenticated", "headers": {"X-Auth-Tenant": {"claim": "org_id"}}}}}}`,
			}, Config{})
			in := Input{Method: "GET", Path: []string{"orgs", "o1"}, Claims: map[string]any{"sub": "a", "org_id": "o1"}}
			if d := decide(t, e, in); !d.Allowed || !maps.Equal(d.Headers, map[string]string{"X-Auth-Tenant": "override"}) {
				t.Errorf("Decide() = %+v, want allowed with X-Auth-Tenant: override", d)
			}
		})
	}
}

// decodeHeaders refuses what Go cannot send.
func TestDecodeHeaders(t *testing.T) {
	tests := []struct {
		name    string
		rego    string
		wantErr string
	}{
		{name: "not_object", rego: `decision := {"allowed": true, "headers": ["X-Auth-A"]}`, wantErr: "want an object"},
		{name: "value_not_string", rego: `decision := {"allowed": true, "headers": {"X-Auth-A": 1}}`, wantErr: "is not a string"},
		{name: "same_name_twice", rego: `decision := {"allowed": true, "headers": {"X-Auth-A": "1", "x-auth-a": "2"}}`, wantErr: "sets X-Auth-A twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := engineFor(t, decisionRego(tt.rego), Config{})
			_, err := e.Decide(context.Background(), Input{Method: "GET", Path: []string{"x"}})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Decide() error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// Go refuses at activation every header rule the policy calls invalid_rule
// and accepts the ones its tests decide with: one schema for both.
func TestHeaderRuleSchemaMatchesRego(t *testing.T) {
	declared := ast.MustParseTerm(`["X-Auth-Tenant", "X-Auth-Plan"]`).Value
	for name, rule := range regoCases(t, "data.headers_test.invalid_header_cases") {
		t.Run("refused/"+name, func(t *testing.T) {
			routes, err := ast.InterfaceToValue(map[string]any{"/x": map[string]any{"GET": rule}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := buildTables(tables{routes: routes, headers: declared}, checks{}); err == nil {
				t.Errorf("buildTables(%v) = nil error; the policy calls it invalid_rule", rule)
			}
		})
	}
	routes, err := ast.InterfaceToValue(regoCases(t, "data.headers_test._header_routes"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := buildTables(tables{routes: routes, headers: declared}, checks{}); err != nil {
		t.Errorf("buildTables(the policy tests' header routes) = %v", err)
	}
}
