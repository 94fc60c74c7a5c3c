package extauthz_test

import (
	"context"
	"slices"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/authz"
	"github.com/policygate/policygate/internal/denial"
	"github.com/policygate/policygate/internal/extauthz"
	"github.com/policygate/policygate/internal/gate"
)

// panickingDecider is the real engine, except that it panics for one
// path: no input makes the real engine panic, so a bug is simulated here.
type panickingDecider struct{ gate.Decider }

func (d panickingDecider) Decide(ctx context.Context, in authz.Input) (authz.Decision, error) {
	if slices.Equal(in.Path, []string{"api", "panic"}) {
		panic("simulated bug")
	}
	return d.Decider.Decide(ctx, in)
}

// TestPanicFailsTheCallOnly: a panic while checking fails that call as
// INTERNAL (Envoy with failure_mode_allow: false denies it) and the
// listener goes on answering, concurrent checks included.
func TestPanicFailsTheCallOnly(t *testing.T) {
	s := newStack(t, authn.KeySetConfig{})
	g := gate.New(s.verifier, panickingDecider{s.decider}, gate.WithAllowCheck(denial.CheckIdentity))
	_, addr := serve(t, extauthz.Config{Gate: g, Renderer: s.render})
	client := authv3.NewAuthorizationClient(dial(t, addr, nil))
	ctx := context.Background()

	for range 3 {
		resp, err := client.Check(ctx, checkRequest("GET", "api.example.com", "/api/panic", nil))
		if status.Code(err) != codes.Internal {
			t.Fatalf("Check(/api/panic) = %v, %v; want INTERNAL", resp, err)
		}
		resp, err = client.Check(ctx, checkRequest("GET", "api.example.com", "/api/public", nil))
		if err != nil || codes.Code(resp.GetStatus().GetCode()) != codes.OK {
			t.Fatalf("Check(/api/public) after a panic = %v, %v; want OK", resp.GetStatus(), err)
		}
	}
}
