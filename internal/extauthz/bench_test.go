package extauthz_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"

	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/extauthz"
)

// benchTokens is how many distinct tokens the distinct scenario cycles
// through; its token cache holds a quarter of them, so every check misses
// it and verifies a signature, as with the load tool's 30000 tokens and
// the server's cache of 10000.
const benchTokens = 1024

// benchScenarios are the token scenarios of the load tool: distinct
// (every token new to the cache) and replayed (one token, always cached).
var benchScenarios = []struct {
	name              string
	tokens, cacheSize int
}{{"distinct", benchTokens, benchTokens / 4}, {"replayed", 1, authn.DefaultCacheSize}}

// benchRequests mints n tokens and builds, for each, the CheckRequest
// Envoy sends for an allowed GET (the load tool's shape).
func benchRequests(b *testing.B, s *stack, n int) []*authv3.CheckRequest {
	b.Helper()
	reqs := make([]*authv3.CheckRequest, n)
	for i := range reqs {
		token := s.provider.Token(b, map[string]any{"scope": "openid read:messages", "sub": fmt.Sprintf("bench|%d", i)})
		reqs[i] = checkRequest("GET", "api.example.com", "/api/private-scoped", map[string]string{
			":authority": "api.example.com", ":method": "GET", ":path": "/api/private-scoped", ":scheme": "https",
			"authorization": "Bearer " + token, "user-agent": "bench", "x-forwarded-proto": "https", "x-request-id": "bench",
		})
		reqs[i].Attributes.Request.Http.Id = "bench"
	}
	return reqs
}

// BenchmarkCheck is one allowed Check over a loopback gRPC connection
// through the real gate, with 16 checks in flight: what a check costs the
// server and the client together.
func BenchmarkCheck(b *testing.B) {
	for _, bc := range benchScenarios {
		b.Run(bc.name, func(b *testing.B) {
			s := newCachedStack(b, authn.KeySetConfig{}, bc.cacheSize)
			_, addr := serve(b, extauthz.Config{Gate: s.gate, Renderer: s.render})
			client := authv3.NewAuthorizationClient(dial(b, addr, nil))
			reqs := benchRequests(b, s, bc.tokens)
			var next atomic.Uint64
			b.ReportAllocs()
			b.SetParallelism(8)
			b.ResetTimer()
			cpu0 := processCPU(b)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := reqs[next.Add(1)%uint64(len(reqs))]
					resp, err := client.Check(context.Background(), req)
					if err != nil || codes.Code(resp.GetStatus().GetCode()) != codes.OK {
						b.Errorf("Check() = %v, %v; want OK", resp.GetStatus(), err)
						return
					}
				}
			})
			b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// BenchmarkServerCheck calls the face's Check directly, without gRPC:
// what the face and the gate cost per check, apart from the transport.
func BenchmarkServerCheck(b *testing.B) {
	for _, bc := range benchScenarios {
		b.Run(bc.name, func(b *testing.B) {
			s := newCachedStack(b, authn.KeySetConfig{}, bc.cacheSize)
			srv := extauthz.NewServer(s.gate, s.render, nil, 0)
			reqs := benchRequests(b, s, bc.tokens)
			var next atomic.Uint64
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := processCPU(b)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := srv.Check(context.Background(), reqs[next.Add(1)%uint64(len(reqs))])
					if err != nil || codes.Code(resp.GetStatus().GetCode()) != codes.OK {
						b.Errorf("Check() = %v, %v; want OK", resp.GetStatus(), err)
						return
					}
				}
			})
			b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// processCPU is the CPU time this process has used (user and system, all
// threads): per check, the steadier figure on a shared machine.
func processCPU(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
