package authz

import (
	"context"
	"strings"
	"testing"

	"github.com/policygate/policygate/internal/testfile"
)

// A module of the author's own in package authz may add to the extension
// points only: a rule named like one of the shipped policy's (same name
// and arity) would join its bodies, and could turn a denial into an allow.
// Such a version is refused at activation, naming the rule and both files.
func TestRuleDefinedTwiceRefused(t *testing.T) {
	const data = `{"audiences": ["https://a.api"], "routes": {"/orders": {"GET": {"access": "authenticated"}}}}`
	tests := []struct {
		name    string
		custom  string
		wantErr string // "" when the version activates
	}{
		{
			name: "shipped_helper",
			custom: `package authz

# the author's own helper: does a value start with one of the prefixes?
_any_of(value, prefixes) if {
	some p in prefixes
	startswith(value, p)
}

custom_denials contains "blocked_client" if _any_of(input.claims.azp, ["test-"])
`,
			wantErr: "rule data.authz._any_of is defined in authz/authz.rego and in authz/custom.rego",
		},
		{
			name:    "decision",
			custom:  "package authz\n\ndecision := {\"allowed\": true}\n",
			wantErr: "rule data.authz.decision is defined in authz/authz.rego and in authz/custom.rego",
		},
		{
			name:    "two_custom_files",
			custom:  "package authz\n\n_blocked(azp) if startswith(azp, \"test-\")\n",
			wantErr: "rule data.authz._blocked is defined in authz/custom.rego and in authz/more.rego",
		},
		{
			name: "extension_points",
			custom: `package authz

custom_denials contains "blocked_client" if startswith(input.claims.azp, "test-")

custom_headers["X-Auth-Plan"] := "gold" if input.claims.plan == "gold"

_blocked(azp) if startswith(azp, "test-")
`,
		},
		{
			name:   "own_subpackage",
			custom: "package authz.mine\n\n_any_of(value, prefixes) if value in prefixes\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{
				"authz/authz.rego":  shippedRego(t),
				"authz/custom.rego": tt.custom,
				"authz/data.json":   data,
			}
			switch tt.name {
			case "two_custom_files":
				files["authz/more.rego"] = "package authz\n\n_blocked(azp) if azp == \"bad\"\n"
			case "own_subpackage":
				files["authz/more.rego"] = "package authz.mine\n\n_any_of(value, prefixes) if startswith(value, prefixes[0])\n"
			}
			if strings.Contains(tt.custom, "custom_headers") {
				files["authz/data.json"] = `{"headers": ["X-Auth-Plan"], "audiences": ["https://a.api"], "routes": {"/orders": {"GET": {"access": "authenticated"}}}}`
			}
			e, err := New(context.Background(), Config{PolicyDir: testfile.Dir(t, files)})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New() = %v, want the version active", err)
				}
				defer e.Stop(context.Background())
				if _, err := e.Decide(context.Background(), Input{Method: "GET", Path: []string{"orders"}, Claims: map[string]any{"sub": "x", "aud": "https://a.api", "azp": "prod"}}); err != nil {
					t.Errorf("Decide() = %v", err)
				}
				return
			}
			if err == nil {
				e.Stop(context.Background())
				t.Fatal("New() = nil error, want the version refused")
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("New() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// A reload that brings a colliding helper is refused like a compile
// error: the previous version keeps serving, and the status names the
// rule and the files.
func TestRuleDefinedTwiceReloadRefused(t *testing.T) {
	const data = `{"audiences": ["https://a.api"], "routes": {"/orders": {"GET": {"access": "authenticated"}}}}`
	dir := testfile.Dir(t, map[string]string{"authz/authz.rego": shippedRego(t), "authz/data.json": data})
	e := engineFor(t, nil, Config{PolicyDir: dir})
	good := e.Revision()
	testfile.Write(t, dir+"/authz/custom.rego", "package authz\n\n_any_of(value, prefixes) if startswith(value, prefixes[0])\n")
	const want = "rule data.authz._any_of is defined in authz/authz.rego and in authz/custom.rego"
	if err := e.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Reload() = %v, want an error containing %q", err, want)
	}
	if s := e.Status(); s.Revision != good || !strings.Contains(s.LastError, want) {
		t.Errorf("Status() = %+v, want revision %s kept and LastError naming the rule", s, good)
	}
	in := Input{Method: "GET", Path: []string{"orders"}, Claims: map[string]any{"sub": "x", "aud": "https://a.api.evil.example"}}
	if d := decide(t, e, in); d.Allowed || d.Reason != ReasonAudienceRefused {
		t.Errorf("Decide(other audience) = %+v, want audience_not_accepted", d)
	}
}
