package api_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/policygate/policygate/internal/api"
	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/authn/authntest"
	"github.com/policygate/policygate/internal/authz"
	"github.com/policygate/policygate/internal/denial"
	"github.com/policygate/policygate/internal/gate"
	"github.com/policygate/policygate/internal/testfile"
)

// facesRoutes is the route table the proxy and forward-auth tests put in
// front of their upstreams, beside the shipped Rego.
const facesRoutes = `{"routes": {
	"/api/public": {"GET": {"access": "public"}},
	"/api/private-scoped": {"GET": {"access": "authenticated", "scopes": ["read:messages"]}},
	"/events": {"GET": {"access": "authenticated"}},
	"/upload": {"POST": {"access": "authenticated", "scopes": ["write:files"]}},
	"/ws": {"GET": {"access": "authenticated"}},
	"/healthz": {"GET": {"access": "public"}}
}}`

// facesHostRoutes adds a host table: on admin.example.com, /api/public
// needs a token and nothing else exists.
const facesHostRoutes = `{"routes": {
	"/api/public": {"GET": {"access": "public"}},
	"/api/private-scoped": {"GET": {"access": "authenticated", "scopes": ["read:messages"]}}
},
"hosts": {"admin.example.com": {"routes": {
	"/api/public": {"GET": {"access": "authenticated", "scopes": ["admin"]}}
}}}}`

// policyWith writes the shipped policy (its Rego) with data as data.json
// into a temp folder and returns the folder.
func policyWith(t testing.TB, data string) string {
	t.Helper()
	dir := t.TempDir()
	for _, sub := range []string{"authz", "system/log"} {
		src := filepath.Join("../../policies", sub)
		entries, err := os.ReadDir(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(src, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if sub == "authz" && e.Name() == "data.json" {
				b = []byte(data)
			}
			testfile.Write(t, filepath.Join(dir, sub, e.Name()), string(b))
		}
	}
	return dir
}

// facesGate is the real gate (verifier over p's keys, the OPA engine on
// policyDir with the given decision cache size, decision metrics on reg)
// the way cmd/server builds it.
func facesGate(t testing.TB, p *authntest.Provider, policyDir string, decisionCacheSize int, reg *prometheus.Registry, opts ...gate.Option) *gate.Gate {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	keys := authn.NewKeySet(authn.KeySetConfig{JWKSURL: p.JWKSURL()})
	authntest.RunKeys(t, keys)
	v, err := authn.NewVerifier(keys, authn.VerifierConfig{
		Issuer: p.Issuer, Audience: authntest.Audience, Algorithms: []string{"RS256"}, ClockSkew: 30 * time.Second,
		CacheSize: authn.DefaultCacheSize, // as the server runs
	})
	if err != nil {
		t.Fatal(err)
	}
	engine, err := authz.New(ctx, authz.Config{PolicyDir: policyDir, DecisionCacheSize: decisionCacheSize})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Stop(context.Background()) })
	authntest.AwaitKeys(t, keys)
	select {
	case <-engine.Ready():
	case <-time.After(20 * time.Second):
		t.Fatalf("policy not active within 20s: %s", engine.Status().LastError)
	}
	opts = append([]gate.Option{gate.WithObserver(api.NewDecisionMetrics(reg)), gate.WithAllowCheck(denial.CheckIdentity)}, opts...)
	return gate.New(v, engine, opts...)
}
