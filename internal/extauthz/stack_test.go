package extauthz_test

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/authn/authntest"
	"github.com/policygate/policygate/internal/authz"
	"github.com/policygate/policygate/internal/denial"
	"github.com/policygate/policygate/internal/extauthz"
	"github.com/policygate/policygate/internal/gate"
)

// realm is the challenge realm of every test listener.
const realm = "test"

// stack is the real service behind the gRPC face: a JWKS served by
// httptest, the verifier, the OPA engine on the shipped policies and the
// gate.
type stack struct {
	provider *authntest.Provider
	verifier gate.Verifier
	decider  gate.Decider
	gate     *gate.Gate
	render   *denial.Renderer
}

func newStack(t testing.TB, keysCfg authn.KeySetConfig) *stack {
	t.Helper()
	return newCachedStack(t, keysCfg, 0)
}

// newCachedStack is newStack with a token cache of tokenCacheSize (0: off).
func newCachedStack(t testing.TB, keysCfg authn.KeySetConfig, tokenCacheSize int) *stack {
	t.Helper()
	p := authntest.NewProvider(t)
	keysCfg.JWKSURL = p.JWKSURL()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	keys := authn.NewKeySet(keysCfg)
	authntest.RunKeys(t, keys)
	v, err := authn.NewVerifier(keys, authn.VerifierConfig{
		Issuer: p.Issuer, Audience: authntest.Audience, Algorithms: []string{"RS256"}, ClockSkew: 30 * time.Second,
		CacheSize: tokenCacheSize,
	})
	if err != nil {
		t.Fatal(err)
	}
	engine, err := authz.New(ctx, authz.Config{PolicyDir: "../../policies", DecisionCacheSize: authz.DefaultDecisionCacheSize})
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
	g := gate.New(v, engine, gate.WithAllowCheck(denial.CheckIdentity))
	return &stack{provider: p, verifier: v, decider: engine, gate: g, render: denial.NewRenderer(realm, "")}
}

// serve starts a gRPC listener for cfg on 127.0.0.1 and returns its
// address; it is shut down when the test ends.
func serve(t testing.TB, cfg extauthz.Config) (*extauthz.Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := extauthz.NewListener(cfg)
	done := make(chan error, 1)
	go func() { done <- l.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := l.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown() = %v, want a graceful stop", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve() = %v", err)
		}
	})
	return l, ln.Addr().String()
}

// dial connects go-control-plane's generated client to addr (TLS when tc
// is set).
func dial(t testing.TB, addr string, tc *tls.Config) *grpc.ClientConn {
	t.Helper()
	creds := insecure.NewCredentials()
	if tc != nil {
		creds = credentials.NewTLS(tc)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// startCheck runs a stack behind a plaintext listener and returns the
// stack and a Check client.
func startCheck(t testing.TB, keysCfg authn.KeySetConfig, maxDeadline time.Duration) (*stack, authv3.AuthorizationClient) {
	t.Helper()
	s := newStack(t, keysCfg)
	_, addr := serve(t, extauthz.Config{Gate: s.gate, Renderer: s.render, MaxDeadline: maxDeadline})
	return s, authv3.NewAuthorizationClient(dial(t, addr, nil))
}

// checkRequest builds the CheckRequest Envoy sends for one HTTP request.
func checkRequest(method, host, path string, headers map[string]string) *authv3.CheckRequest {
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
		Http: &authv3.AttributeContext_HttpRequest{Method: method, Host: host, Path: path, Headers: headers, Scheme: "https", Protocol: "HTTP/1.1"},
	}}}
}
