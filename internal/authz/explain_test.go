package authz_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/policygate/policygate/internal/authz"
	"github.com/policygate/policygate/internal/testfile"
)

func TestScopes(t *testing.T) {
	dir := testfile.Dir(t, map[string]string{
		"authz/authz.rego": "package authz\n\ndecision := {\"allowed\": false, \"reason\": \"x\"}\n",
		"authz/data.json": `{
			"routes": {
				"/a": {"GET": {"access": "authenticated", "scopes": ["read:a", "shared"]}, "*": {"access": "public"}},
				"/b": {"POST": {"access": "authenticated", "scopes": ["write:b"]}},
				"/c": {"GET": {"access": "authenticated"}}
			},
			"hosts": {"admin.example.com": {"routes": {"/": {"GET": {"access": "authenticated", "scopes": ["admin", "shared"]}}}}}
		}`,
	})
	e := startEngine(t, dir)
	got, err := e.Scopes(context.Background())
	if err != nil || strings.Join(got, " ") != "admin read:a shared write:b" {
		t.Errorf("Scopes() = %q, %v, want admin read:a shared write:b", got, err)
	}

	// A live edit shows at once.
	testfile.Write(t, filepath.Join(dir, "authz/data.json"), `{"routes": {"/a": {"GET": {"access": "authenticated", "scopes": ["read:new"]}}}}`)
	if err := e.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, err := e.Scopes(context.Background()); err != nil || strings.Join(got, " ") != "read:new" {
		t.Errorf("after the edit, Scopes() = %q, %v, want read:new", got, err)
	}
}

func TestScopesBeforeReady(t *testing.T) {
	e, err := authz.New(context.Background(), authz.Config{OPAConfig: []byte(`{"services": {"s": {"url": "http://127.0.0.1:1"}}, "bundles": {"b": {"service": "s", "trigger": "manual"}}}`)})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Stop(context.Background())
	if _, err := e.Scopes(context.Background()); !errors.Is(err, authz.ErrNotReady) {
		t.Errorf("Scopes() before a policy = %v, want ErrNotReady", err)
	}
	if _, err := e.Explain(context.Background(), authz.Input{Method: "GET"}, authz.ExplainFull); !errors.Is(err, authz.ErrNotReady) {
		t.Errorf("Explain() before a policy = %v, want ErrNotReady", err)
	}
}

func TestExplain(t *testing.T) {
	dir := testfile.Dir(t, map[string]string{
		"authz/authz.rego": `package authz

decision := {"allowed": allowed, "reason": "because", "routes": ["/x"]}

allowed if {
	trace(sprintf("method is %s", [input.method]))
	print("path", input.path)
	input.method == "GET"
}

default allowed := false
`,
	})
	e := startEngine(t, dir)
	in := authz.Input{Method: "GET", Path: []string{"x"}}
	tests := []struct {
		name      string
		mode      authz.ExplainMode
		wantTrace []string
		notTrace  []string
	}{
		{name: "none", mode: authz.ExplainNone},
		// Files are named as in the folder, as reload errors name them,
		// not with the bundle name OPA stores them under.
		{name: "notes", mode: authz.ExplainNotes, wantTrace: []string{`Note "method is GET"`, "\nauthz/authz.rego:6 "}, notTrace: []string{"Eval input.method", "authz/authz/"}},
		{name: "full", mode: authz.ExplainFull, wantTrace: []string{`Note "method is GET"`, "Enter data.authz.decision", "Eval"}, notTrace: []string{"authz/authz/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, err := e.Explain(context.Background(), in, tt.mode)
			if err != nil {
				t.Fatal(err)
			}
			if x.Result["allowed"] != true || x.Result["reason"] != "because" || x.Revision == "" {
				t.Errorf("Explain() result = %v revision %q", x.Result, x.Revision)
			}
			if len(x.Prints) != 1 || x.Prints[0] != `authz/authz.rego:7: path ["x"]` {
				t.Errorf("Explain() prints = %q, want the print() line with its location", x.Prints)
			}
			if tt.mode == authz.ExplainNone && x.Trace != "" {
				t.Errorf("Explain(none) trace = %q, want none", x.Trace)
			}
			for _, want := range tt.wantTrace {
				if !strings.Contains(x.Trace, want) {
					t.Errorf("trace lacks %q:\n%s", want, x.Trace)
				}
			}
			for _, not := range tt.notTrace {
				if strings.Contains(x.Trace, not) {
					t.Errorf("trace has %q:\n%s", not, x.Trace)
				}
			}
		})
	}
}
