package authz_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/policygate/policygate/internal/authz"
	"github.com/policygate/policygate/internal/policy"
	"github.com/policygate/policygate/internal/testfile"
)

func startEngine(t testing.TB, dir string) *authz.Engine {
	t.Helper()
	e, err := authz.New(context.Background(), authz.Config{PolicyDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Stop(context.Background()) })
	awaitPolicy(t, e)
	return e
}

// awaitPolicy waits for e's first active policy and fails the test with
// the policy's last error when none is active within 20 seconds.
func awaitPolicy(t testing.TB, e *authz.Engine) {
	t.Helper()
	select {
	case <-e.Ready():
	case <-time.After(20 * time.Second):
		t.Fatalf("policy not active within 20s: %s", e.Status().LastError)
	}
}

// policyRevision loads the policy folder dir as the engine does and
// returns its revision.
func policyRevision(dir string) (string, error) {
	p, err := policy.LoadDir(dir)
	if err != nil {
		return "", err
	}
	return p.Revision, nil
}

func TestDecideShippedPolicy(t *testing.T) {
	e := startEngine(t, "../../policies")
	claims := map[string]any{"sub": "alice"}
	tests := []struct {
		name        string
		in          authz.Input
		wantAllowed bool
		wantReason  string
		wantMissing []string
	}{
		{"public", authz.Input{Method: "GET", Path: []string{"api", "public"}}, true, "public", nil},
		{"private_anonymous", authz.Input{Method: "GET", Path: []string{"api", "private"}}, false, "unauthenticated", nil},
		{"private_authenticated", authz.Input{Method: "GET", Path: []string{"api", "private"}, Claims: claims}, true, "authenticated", nil},
		{"scoped_missing", authz.Input{Method: "GET", Path: []string{"api", "private-scoped"}, Claims: claims}, false, "insufficient_scope", []string{"read:messages"}},
		{"scoped_granted", authz.Input{Method: "GET", Path: []string{"api", "private-scoped"}, Claims: claims, Scopes: []string{"read:messages"}}, true, "scopes_granted", nil},
		{"unknown_route", authz.Input{Method: "GET", Path: []string{"admin"}, Claims: claims, Scopes: []string{"read:messages"}}, false, "no_route", nil},
		{"wrong_method", authz.Input{Method: "DELETE", Path: []string{"api", "public"}}, false, "no_route", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := e.Decide(context.Background(), tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed != tt.wantAllowed || d.Reason != tt.wantReason || !slices.Equal(d.MissingScopes, tt.wantMissing) && len(tt.wantMissing) > 0 {
				t.Errorf("Decide() = %+v, want allowed=%v reason=%q missing=%q", d, tt.wantAllowed, tt.wantReason, tt.wantMissing)
			}
			if d.ID == "" {
				t.Error("decision has no id")
			}
		})
	}
}

func TestDecideFailsClosedOnIllTypedDecision(t *testing.T) {
	tests := []struct{ name, rego string }{
		{"not_an_object", "package authz\n\ndecision := true\n"},
		{"allowed_not_bool", "package authz\n\ndecision := {\"allowed\": \"yes\"}\n"},
		{"scopes_not_strings", "package authz\n\ndecision := {\"allowed\": false, \"missing_scopes\": [1]}\n"},
		{"undefined", "package authz\n\ndecision := {\"allowed\": true} if input.never\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := startEngine(t, testfile.Dir(t, map[string]string{"authz/authz.rego": tt.rego}))
			if d, err := e.Decide(context.Background(), authz.Input{Method: "GET", Path: []string{}}); err == nil {
				t.Errorf("Decide() = %+v, nil; want an error", d)
			}
		})
	}
}

func TestDecideBeforeReady(t *testing.T) {
	// A bundle that never loads: the engine must deny with ErrNotReady.
	e, err := authz.New(context.Background(), authz.Config{OPAConfig: []byte(`{"services":{"s":{"url":"http://127.0.0.1:1"}},"bundles":{"authz":{"service":"s","resource":"b.tar.gz"}}}`)})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Stop(context.Background())
	if _, err := e.Decide(context.Background(), authz.Input{Method: "GET", Path: []string{"api", "public"}}); !errors.Is(err, authz.ErrNotReady) {
		t.Errorf("Decide() before ready = %v, want ErrNotReady", err)
	}
}
