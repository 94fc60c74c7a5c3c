package extauthz_test

import (
	"context"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"

	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/extauthz"
)

// BenchmarkCheck is one allowed Check over a loopback connection through
// the real gate: distinct verifies every token (token cache off), replayed
// finds it in the token cache.
func BenchmarkCheck(b *testing.B) {
	for _, bc := range []struct {
		name      string
		cacheSize int
	}{{"distinct", 0}, {"replayed", authn.DefaultCacheSize}} {
		b.Run(bc.name, func(b *testing.B) {
			s := newCachedStack(b, authn.KeySetConfig{}, bc.cacheSize)
			_, addr := serve(b, extauthz.Config{Gate: s.gate, Renderer: s.render})
			client := authv3.NewAuthorizationClient(dial(b, addr, nil))
			req := checkRequest("GET", "api.example.com", "/api/private-scoped",
				auth("Bearer "+s.provider.Token(b, map[string]any{"scope": "read:messages"})))
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Check(context.Background(), req)
					if err != nil || codes.Code(resp.GetStatus().GetCode()) != codes.OK {
						b.Errorf("Check() = %v, %v; want OK", resp.GetStatus(), err)
						return
					}
				}
			})
		})
	}
}
