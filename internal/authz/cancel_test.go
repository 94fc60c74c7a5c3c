package authz_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/topdown"

	"github.com/policygate/policygate/internal/authz"
	"github.com/policygate/policygate/internal/testfile"
)

// A policy that would evaluate for minutes stops when the caller's context
// ends, and the decision is an error (the caller denies), not a wait.
func TestDecideStopsWithItsContext(t *testing.T) {
	// 10^10 steps, holding nothing: only cancellation ends it in time.
	const slow = "package authz\n\ndecision := {\"allowed\": true} if {\n\tsome i in numbers.range(1, 100000)\n\tsome j in numbers.range(1, 100000)\n\ti + j < 0\n}\n"
	e := startEngine(t, testfile.Dir(t, map[string]string{"authz/authz.rego": slow}))
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}},
		{"cancelled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			return ctx, cancel
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := tt.ctx()
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := e.Decide(ctx, authz.Input{Method: "GET", Path: []string{}})
				done <- err
			}()
			select {
			case err := <-done:
				var te *topdown.Error
				if !errors.As(err, &te) || te.Code != topdown.CancelErr {
					t.Errorf("Decide() error = %v, want OPA's cancel error", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("Decide() still evaluating 30s after its context ended")
			}
		})
	}
}

// A decision may give its lists as sets: they are read sorted.
func TestDecideReadsSets(t *testing.T) {
	const rego = "package authz\n\ndecision := {\"allowed\": false, \"reason\": \"insufficient_scope\", \"required_scopes\": {\"b\", \"a\"}, \"missing_scopes\": {\"b\"}}\n"
	e := startEngine(t, testfile.Dir(t, map[string]string{"authz/authz.rego": rego}))
	d, err := e.Decide(context.Background(), authz.Input{Method: "GET", Path: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.RequiredScopes, []string{"a", "b"}) || !slices.Equal(d.MissingScopes, []string{"b"}) {
		t.Errorf("Decide() = required %q, missing %q; want [a b], [b]", d.RequiredScopes, d.MissingScopes)
	}
}
