package policies_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/policygate/policygate/internal/authz"
)

// inputSchemaSet is the input schema the policy's METADATA names
// (schema.input), as `opa check -s ../policies/schemas` loads it.
func inputSchemaSet(t testing.TB) *ast.SchemaSet {
	t.Helper()
	raw, err := os.ReadFile("../policies/schemas/input.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema any
	if err := util.Unmarshal(raw, &schema); err != nil {
		t.Fatalf("input schema: %v", err)
	}
	ss := ast.NewSchemaSet()
	ss.Put(ast.MustParseRef("schema.input"), schema)
	return ss
}

// The schema (named by the package's METADATA, so for every file of package
// authz) is what makes a misspelt input field a compile error rather
// than a rule that is silently never true.
func TestInputSchemaCatchesTypos(t *testing.T) {
	src, err := os.ReadFile("../policies/authz/authz.rego")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		extra   string
		wantErr string
	}{
		{name: "known_fields", extra: "x if input.scopes[_] == \"a\"\n\ny if input.bound.claims.sub == \"a\"\n"},
		{name: "misspelt_scopes", extra: "x if input.scope == \"a\"\n", wantErr: "input.scope"},
		{name: "misspelt_bound", extra: "x if input.bounds.claims.sub == \"a\"\n", wantErr: "input.bounds"},
		{name: "wrong_type", extra: "x if input.authenticated == \"true\"\n", wantErr: "match error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			policy, err := ast.ParseModuleWithOpts("authz.rego", string(src), ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
			if err != nil {
				t.Fatal(err)
			}
			extra, err := ast.ParseModuleWithOpts("extra.rego", "package authz\n\n"+tt.extra, ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
			if err != nil {
				t.Fatal(err)
			}
			c := ast.NewCompiler().WithStrict(true).WithSchemas(inputSchemaSet(t)).WithUseTypeCheckAnnotations(true)
			c.Compile(map[string]*ast.Module{"authz.rego": policy, "extra.rego": extra})
			switch {
			case tt.wantErr == "" && c.Failed():
				t.Errorf("compile: %v", c.Errors)
			case tt.wantErr != "" && (!c.Failed() || !strings.Contains(c.Errors.Error(), tt.wantErr)):
				t.Errorf("compile errors = %v, want one naming %s", c.Errors, tt.wantErr)
			}
		})
	}
}

// The reasons the Rego can give are exactly authz.Reasons(): the string
// heads of the _reason chain and the default decision's.
func TestReasonsMatchGo(t *testing.T) {
	compiler, _ := compileShipped(t)
	var got []string
	add := func(v ast.Value) {
		if s, ok := v.(ast.String); ok && !slices.Contains(got, string(s)) {
			got = append(got, string(s))
		}
	}
	for _, r := range compiler.GetRules(ast.MustParseRef("data.authz._reason")) {
		for ; r != nil; r = r.Else {
			add(r.Head.Value.Value)
		}
	}
	for _, r := range compiler.GetRules(ast.MustParseRef("data.authz.decision")) {
		if obj, ok := r.Head.Value.Value.(ast.Object); ok {
			if reason := obj.Get(ast.StringTerm("reason")); reason != nil {
				add(reason.Value)
			}
		}
	}
	slices.Sort(got)
	want := authz.Reasons()
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("Rego reasons = %q, Go reasons = %q", got, want)
	}
}
