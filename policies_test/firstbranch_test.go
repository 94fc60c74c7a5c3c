package policies_test

import (
	"context"
	"testing"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// TestFirstBranchNumberKey: a route key that is a number must not find a
// stored route whose key is its decimal string. The store's lookup would
// (data.authz.routes[0] reads the key "0"), the general rules' lookup in a
// value would not, so the first branch must refuse non-string keys like
// they do. `with` hands the policy values, not stored data, so the Rego
// tests cannot reach this case.
func TestFirstBranchNumberKey(t *testing.T) {
	compiler, _ := compileShipped(t)
	claims := map[string]any{"sub": "auth0|user-1"}
	tests := []struct {
		name string
		rule map[string]any
		key  any
	}{
		{name: "public", rule: map[string]any{"access": "public"}, key: 0},
		{name: "authenticated", rule: map[string]any{"access": "authenticated"}, key: 0},
		{name: "scoped", rule: map[string]any{"access": "authenticated", "scopes": []any{"read:messages"}}, key: 0},
		{name: "fraction", rule: map[string]any{"access": "public"}, key: 1.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stored := map[string]any{"authz": map[string]any{"routes": map[string]any{
				"0":   map[string]any{"GET": tt.rule},
				"1.5": map[string]any{"GET": tt.rule},
			}}}
			input := map[string]any{"method": "GET", "host": "", "routes": []any{tt.key}, "authenticated": true, "claims": claims, "scopes": []any{"read:messages"}}
			rs, err := rego.New(
				rego.Query("data.authz.decision.reason"),
				rego.Compiler(compiler),
				rego.Store(inmem.NewFromObject(stored)),
				rego.Input(input),
			).Eval(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) != 1 || rs[0].Expressions[0].Value != "no_route" {
				t.Errorf("reason = %v, want no_route", rs)
			}
		})
	}
}
