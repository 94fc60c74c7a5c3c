// Package policies_test runs the Rego tests of the shipped policies and checks
// the embedded policy the way the server loads it.
package policies_test

import (
	"context"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/loader"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"

	"github.com/policygate/policygate/internal/authz"
	"github.com/policygate/policygate/policies"
)

// TestRego runs every Rego test in ../policies and here, so `go test` fails
// when `opa test policies policies_test` would.
func TestRego(t *testing.T) {
	ctx := context.Background()
	modules, store, err := tester.Load([]string{"../policies", "."}, nil)
	if err != nil {
		t.Fatalf("load policies and tests: %v", err)
	}

	// Strict, like `opa check --strict -s ../policies/schemas`; print()
	// output is kept for failures.
	compiler := ast.NewCompiler().
		WithStrict(true).
		WithSchemas(inputSchemaSet(t)).
		WithEnablePrintStatements(true).
		WithDefaultRegoVersion(ast.RegoV1)
	ch, err := tester.NewRunner().
		SetTimeout(time.Minute). // per test; the race detector slows the table-driven ones down several times
		SetStore(store).
		SetCompiler(compiler).
		SetDefaultRegoVersion(ast.RegoV1).
		CapturePrintOutput(true).
		RaiseBuiltinErrors(true).
		SetModules(modules).RunTests(ctx, nil) // Run(ctx, modules) is deprecated; this is what it did
	if err != nil {
		t.Fatalf("run rego tests: %v", err)
	}

	var ran int
	for r := range ch {
		ran++
		if r.Pass() {
			continue
		}
		name := r.Package + "." + r.Name
		switch {
		case r.Error != nil:
			t.Errorf("%s (%v): error: %v", name, r.Location, r.Error)
		case r.Skip:
			t.Errorf("%s (%v): skipped; remove the todo_ prefix or the test", name, r.Location)
		default:
			t.Errorf("%s (%v): FAIL", name, r.Location)
		}
		for path, sr := range r.SubResults.Iter {
			if sr.Fail && len(sr.SubResults) == 0 {
				t.Errorf("  %s[%s]: FAIL", name, strings.Join(path, "]["))
			}
		}
		if len(r.Output) > 0 {
			t.Logf("%s output:\n%s", name, r.Output)
		}
	}
	if ran == 0 {
		t.Fatal("no Rego tests ran")
	}
	t.Logf("%d Rego tests ran", ran)
}

// compileShipped compiles the embedded policies as the OPA bundle they are, so
// that only data.json files become data, at their folder's path.
func compileShipped(t testing.TB) (*ast.Compiler, map[string]any) {
	t.Helper()
	b, err := loader.NewFileLoader().
		WithFS(policies.FS).
		WithRegoVersion(ast.RegoV1).
		AsBundle(".")
	if err != nil {
		t.Fatalf("load embedded policies: %v", err)
	}
	if len(b.Modules) == 0 {
		t.Fatal("no Rego modules embedded")
	}
	for _, m := range b.Modules {
		if strings.HasSuffix(m.Path, "_test.rego") {
			t.Errorf("test module %s is embedded; tests belong in policies_test", m.Path)
		}
	}
	modules := make(map[string]*ast.Module, len(b.Modules))
	for _, m := range b.Modules {
		modules[m.Path] = m.Parsed
	}
	compiler := ast.NewCompiler().WithStrict(true).WithDefaultRegoVersion(ast.RegoV1)
	if compiler.Compile(modules); compiler.Failed() {
		t.Fatalf("compile embedded policies: %v", compiler.Errors)
	}
	return compiler, b.Data
}

func TestShippedPolicyDefinesDecision(t *testing.T) {
	compiler, data := compileShipped(t)

	rules := compiler.GetRules(ast.MustParseRef("data.authz.decision"))
	if len(rules) == 0 {
		t.Fatal("data.authz.decision is not defined by the embedded policies")
	}
	if !slices.ContainsFunc(rules, func(r *ast.Rule) bool { return r.Default }) {
		t.Error("data.authz.decision has no default rule; it must always be defined")
	}

	authz, _ := data["authz"].(map[string]any)
	if routes, _ := authz["routes"].(map[string]any); len(routes) == 0 {
		t.Errorf("data.authz.routes is empty or missing; data = %v", data)
	}

	var files []string
	if err := fs.WalkDir(policies.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, path)
		}
		return err
	}); err != nil {
		t.Fatalf("walk embedded policies: %v", err)
	}
	if want := []string{"authz/authz.rego", "authz/data.json", "system/log/data.json", "system/log/mask.rego"}; !slices.Equal(files, want) {
		t.Errorf("embedded files = %q, want %q", files, want)
	}
}

// TestDecisionAlwaysDefined evaluates the embedded policy with strict builtin
// errors, as a server may, and checks that any input shape yields a
// well-formed decision rather than undefined or an error.
func TestDecisionAlwaysDefined(t *testing.T) {
	compiler, data := compileShipped(t)
	query, err := rego.New(
		rego.Query("data.authz.decision"),
		rego.Compiler(compiler),
		rego.Store(inmem.NewFromObject(data)),
		rego.StrictBuiltinErrors(true),
	).PrepareForEval(context.Background())
	if err != nil {
		t.Fatalf("prepare data.authz.decision: %v", err)
	}

	claims := map[string]any{"sub": "auth0|user-1"}
	tests := []struct {
		name        string
		input       any
		wantAllowed bool
		wantReason  string
	}{
		{name: "no_input", input: nil, wantReason: "no_route"},
		{name: "empty_input", input: map[string]any{}, wantReason: "no_route"},
		{name: "input_not_an_object", input: "GET /api/public", wantReason: "no_route"},
		{name: "routes_as_string", input: map[string]any{"method": "GET", "routes": "/api/public"}, wantReason: "no_route"},
		{name: "routes_as_object", input: map[string]any{"method": "GET", "routes": map[string]any{"0": "/api/nowhere"}}, wantReason: "no_route"},
		{name: "routes_with_number", input: map[string]any{"method": "GET", "routes": []any{"/api/public", 1}}, wantAllowed: true, wantReason: "public"},
		{name: "routes_with_null", input: map[string]any{"method": "GET", "routes": []any{nil}}, wantReason: "no_route"},
		{name: "route_unknown", input: map[string]any{"method": "GET", "routes": []any{"/nowhere"}}, wantReason: "no_route"},
		{name: "method_as_number", input: map[string]any{"method": 1, "routes": []any{"/api/public"}}, wantReason: "no_route"},
		{name: "host_as_number", input: map[string]any{"method": "GET", "host": 1, "routes": []any{"/api/public"}}, wantAllowed: true, wantReason: "public"},
		{name: "scopes_as_string", input: map[string]any{"method": "GET", "routes": []any{"/api/private-scoped"}, "authenticated": true, "claims": claims, "scopes": "read:messages"}, wantReason: "insufficient_scope"},
		{name: "scopes_with_number", input: map[string]any{"method": "GET", "routes": []any{"/api/private-scoped"}, "authenticated": true, "claims": claims, "scopes": []any{1}}, wantReason: "insufficient_scope"},
		{name: "claims_as_string", input: map[string]any{"method": "GET", "routes": []any{"/api/private"}, "claims": "x"}, wantReason: "unauthenticated"},
		{name: "claims_without_flag", input: map[string]any{"method": "GET", "routes": []any{"/api/private"}, "claims": claims}, wantReason: "unauthenticated"},
		{name: "flag_as_string", input: map[string]any{"method": "GET", "routes": []any{"/api/private"}, "authenticated": "true", "claims": claims}, wantReason: "unauthenticated"},
		{name: "bound_as_string", input: map[string]any{"method": "GET", "routes": []any{"/api/private"}, "authenticated": true, "claims": claims, "bound": "x"}, wantAllowed: true, wantReason: "authenticated"},
		{name: "public", input: map[string]any{"method": "GET", "routes": []any{"/api/public"}}, wantAllowed: true, wantReason: "public"},
		{name: "private", input: map[string]any{"method": "GET", "routes": []any{"/api/private"}, "authenticated": true, "claims": claims, "scopes": []any{}}, wantAllowed: true, wantReason: "authenticated"},
		{name: "private_scoped", input: map[string]any{"method": "GET", "routes": []any{"/api/private-scoped"}, "authenticated": true, "claims": claims, "scopes": []any{"read:messages"}}, wantAllowed: true, wantReason: "scopes_granted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []rego.EvalOption
			if tt.input != nil {
				opts = append(opts, rego.EvalInput(tt.input))
			}
			rs, err := query.Eval(context.Background(), opts...)
			if err != nil {
				t.Fatalf("Eval(%v) error: %v", tt.input, err)
			}
			if len(rs) != 1 || len(rs[0].Expressions) != 1 {
				t.Fatalf("Eval(%v) = %v, want exactly one decision", tt.input, rs)
			}
			decision, ok := rs[0].Expressions[0].Value.(map[string]any)
			if !ok {
				t.Fatalf("decision = %#v, want an object", rs[0].Expressions[0].Value)
			}
			checkShape(t, decision)
			if decision["allowed"] != tt.wantAllowed || decision["reason"] != tt.wantReason {
				t.Errorf("decision(%v) = %v, want allowed %v, reason %q", tt.input, decision, tt.wantAllowed, tt.wantReason)
			}
		})
	}
}

// checkShape checks the decision contract the Go side relies on.
func checkShape(t *testing.T, decision map[string]any) {
	t.Helper()
	keys := make([]string, 0, len(decision))
	for k := range decision {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"allowed", "any_scopes", "failed_claims", "headers", "missing_scopes", "reason", "required_scopes"}; !slices.Equal(keys, want) {
		t.Errorf("decision keys = %q, want %q", keys, want)
	}
	if h, ok := decision["headers"].(map[string]any); !ok {
		t.Errorf("headers = %#v, want an object", decision["headers"])
	} else {
		for name, v := range h {
			if _, ok := v.(string); !ok {
				t.Errorf("headers[%q] = %#v, want a string", name, v)
			}
		}
	}
	if _, ok := decision["allowed"].(bool); !ok {
		t.Errorf("allowed = %#v, want a bool", decision["allowed"])
	}
	reasons := authz.Reasons()
	if r, _ := decision["reason"].(string); !slices.Contains(reasons, r) {
		t.Errorf("reason = %#v, want one of %q", decision["reason"], reasons)
	}
	for _, k := range []string{"required_scopes", "any_scopes", "missing_scopes", "failed_claims"} {
		list, ok := decision[k].([]any)
		if !ok {
			t.Errorf("%s = %#v, want an array", k, decision[k])
			continue
		}
		strs := make([]string, 0, len(list))
		for _, v := range list {
			s, ok := v.(string)
			if !ok {
				t.Errorf("%s = %#v, want strings only", k, list)
				break
			}
			strs = append(strs, s)
		}
		if !slices.IsSorted(strs) {
			t.Errorf("%s = %q, want sorted", k, strs)
		}
	}
}

// BenchmarkDecision measures the shipped policy alone (no engine around it,
// no decision cache) deciding the request the server sees most: an
// authenticated GET /api/private-scoped whose token grants read:messages,
// allowed with reason scopes_granted. The input is the one the engine
// builds for that request (input v2: routes, params, bound...), taken
// whole from Engine.Explain and prebuilt as an ast.Value, as the engine
// passes it. BenchmarkDecide in internal/authz measures the engine's
// Decide around the same policy.
func BenchmarkDecision(b *testing.B) {
	ctx := context.Background()
	input := engineInput(b, authz.Input{
		Method: "GET", Host: "api.example.com", Path: []string{"api", "private-scoped"},
		Issuer: "https://idp.example.com/",
		Claims: map[string]any{"iss": "https://idp.example.com/", "sub": "auth0|user-1", "scope": "openid read:messages"},
		Scopes: []string{"openid", "read:messages"},
	})
	compiler, data := compileShipped(b)
	query, err := rego.New(
		rego.Query("data.authz.decision"),
		rego.Compiler(compiler),
		rego.Store(inmem.NewFromObject(data)),
	).PrepareForEval(ctx)
	if err != nil {
		b.Fatalf("prepare data.authz.decision: %v", err)
	}
	rs, err := query.Eval(ctx, rego.EvalParsedInput(input))
	if err != nil || len(rs) != 1 || len(rs[0].Expressions) != 1 {
		b.Fatalf("Eval = %v, %v", rs, err)
	}
	if d, _ := rs[0].Expressions[0].Value.(map[string]any); d["allowed"] != true || d["reason"] != authz.ReasonScopesGranted {
		b.Fatalf("decision = %v, want allowed with reason %s: the benchmark must measure the scoped allow", d, authz.ReasonScopesGranted)
	}

	b.ReportAllocs()
	for b.Loop() {
		rs, err := query.Eval(ctx, rego.EvalParsedInput(input))
		if err != nil || len(rs) != 1 {
			b.Fatalf("Eval = %v, %v", rs, err)
		}
	}
}

// engineInput is the policy input the engine builds for in over the
// embedded policies, as an ast.Value.
func engineInput(b *testing.B, in authz.Input) ast.Value {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	engine, err := authz.New(ctx, authz.Config{PolicyFS: policies.FS})
	if err != nil {
		b.Fatal(err)
	}
	defer engine.Stop(context.Background())
	select {
	case <-engine.Ready():
	case <-time.After(20 * time.Second):
		b.Fatal("policy not ready")
	}
	x, err := engine.Explain(ctx, in, authz.ExplainNone)
	if err != nil {
		b.Fatalf("Explain: %v", err)
	}
	v, err := ast.InterfaceToValue(x.Input)
	if err != nil {
		b.Fatalf("input %v: %v", x.Input, err)
	}
	return v
}
