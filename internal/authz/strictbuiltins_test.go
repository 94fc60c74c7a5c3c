package authz

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// A built-in that fails inside custom Rego (1/0, to_number("abc"),
// upper(5)) is an engine error, and so a denial: OPA's default would read
// it as undefined, and a custom_denials rule that fails would not deny.
// Decide and Explain answer alike.
func TestBuiltinErrorDenies(t *testing.T) {
	tests := []struct {
		name   string
		custom string
		claims map[string]any
	}{
		{
			name:   "to_number",
			custom: "custom_denials contains \"over_quota\" if {\n\tto_number(input.claims.quota) < 0\n}\n",
			claims: map[string]any{"sub": "a", "quota": "abc"},
		},
		{
			name:   "division_by_zero",
			custom: "custom_denials contains \"ratio\" if {\n\t1 / input.claims.used > 1\n}\n",
			claims: map[string]any{"sub": "a", "used": 0},
		},
		{
			name:   "upper_of_number",
			custom: "custom_denials contains \"blocked\" if {\n\tupper(input.claims.team) == \"BLOCKED\"\n}\n",
			claims: map[string]any{"sub": "a", "team": 5},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := engineFor(t, map[string]string{
				"authz/authz.rego":  shippedRego(t),
				"authz/custom.rego": "package authz\n\n" + tt.custom,
				"authz/data.json":   `{"routes": {"/notes": {"*": {"access": "authenticated"}}}}`,
			}, Config{})
			in := Input{Method: "POST", Path: []string{"notes"}, Claims: tt.claims}
			for round := range 2 { // the second would be a cache hit
				d, err := e.Decide(context.Background(), in)
				if err == nil {
					t.Fatalf("round %d: Decide = allowed %v, reason %q, nil error; want an evaluation error", round, d.Allowed, d.Reason)
				}
				if !strings.Contains(err.Error(), "eval_builtin_error") && !strings.Contains(err.Error(), "eval_type_error") {
					t.Errorf("round %d: Decide error %q, want the built-in's error", round, err)
				}
			}
			if x, err := e.Explain(context.Background(), in, ExplainNone); err == nil {
				t.Errorf("Explain = %v, nil error; want the evaluation error Decide gives", x.Result)
			}
		})
	}
}

// The shipped policy itself never raises a built-in error (now an engine
// error, a denial) on any input the engine builds: every rule kind, with
// claims of every JSON type, huge numbers and odd scopes.
func TestShippedPolicyNoBuiltinErrors(t *testing.T) {
	data := `{
	"headers": ["X-Auth-Tenant"],
	"issuers": ["https://a.example/"],
	"routes": {
		"/p": {"GET": {"access": "public"}, "HEAD": {"access": "public", "scopes": ["s"]}},
		"/a": {"GET": {"access": "authenticated"}, "*": {"access": "authenticated", "any_scopes": ["s", "t"]}},
		"/s": {"GET": {"access": "authenticated", "scopes": ["s", "t"], "audiences": ["https://api"]}},
		"/c/{org}": {"GET": {"access": "authenticated",
			"issuers": ["https://a.example/"],
			"headers": {"X-Auth-Tenant": {"claim": "org_id"}},
			"claims": {
				"org_id": {"equals_param": "org", "unless_scopes": ["admin"]},
				"roles": {"contains_any": ["admin", 1, {"a": 1}]},
				"tier": {"equals": 1e3}
			}}},
		"/c/{org}/*": {"GET": {"access": "public", "claims": {"sub": {"equals": null}}}}
	},
	"hosts": {"h.example": {"audiences": ["https://h"], "routes": {"/a": {"*": {"access": "authenticated"}}}}}
	}`
	e := engineFor(t, map[string]string{"authz/authz.rego": shippedRego(t), "authz/data.json": data}, Config{DecisionCacheSize: -1})
	values := []any{
		nil, true, false, 0, -1, 1e3, 1.5, json.Number("1e400"), json.Number("-123456789012345678901234567890"),
		"", "x", "https://api", "admin", strings.Repeat("a", 10000),
		[]any{}, []any{"admin", 5, nil}, []any{[]any{"admin"}}, map[string]any{}, map[string]any{"admin": true},
	}
	paths := [][]string{{"p"}, {"a"}, {"s"}, {"c", "o1"}, {"c", "1000"}, {"c", "o1", "x"}, {"none"}}
	scopeSets := [][]string{nil, {""}, {"s"}, {"s", "t", "admin"}, {"1e3", "{}"}}
	n := 0
	for _, v := range values {
		claims := map[string]any{}
		for _, name := range []string{"sub", "iss", "aud", "org_id", "roles", "tier", "scope", "scp"} {
			claims[name] = v
		}
		for _, host := range []string{"", "h.example"} {
			for _, p := range paths {
				for _, m := range []string{"GET", "HEAD", "POST"} {
					for _, scopes := range scopeSets {
						for _, in := range []Input{
							{Method: m, Host: host, Path: p, Claims: claims, Scopes: scopes, Issuer: fmt.Sprint(v)},
							{Method: m, Host: host, Path: p},
						} {
							n++
							if _, err := e.Decide(context.Background(), in); err != nil {
								t.Errorf("%s %s %v scopes %v claims %.60v: %v", m, host, p, scopes, v, err)
							}
						}
					}
				}
			}
		}
	}
	t.Logf("%d decisions", n)
}
