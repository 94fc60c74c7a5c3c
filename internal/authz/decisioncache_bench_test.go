package authz_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/policygate/policygate/internal/authz"
)

// BenchmarkCacheMemoryLongIDs reports the Go heap in use with the
// 2000-route table and 20 000 anonymous decisions on a route binding sub
// to {id}, each with a distinct id of idBytes: the ids go into the cache
// keys. With 900-byte ids every decision is cached (the largest entries
// the cache keeps); with 30 000-byte ids none is. Run each alone with
// -benchtime 1x -count 1, as BenchmarkCacheMemory.
func BenchmarkCacheMemoryLongIDs(b *testing.B) {
	for _, idBytes := range []int{900, 30_000} {
		b.Run(fmt.Sprint("id=", idBytes), func(b *testing.B) {
			routes := benchRoutes(2000)
			routes["/users/{id}"] = map[string]any{"GET": map[string]any{"access": "authenticated", "claims": map[string]any{"sub": map[string]any{"equals_param": "id"}}}}
			const n = 20_000
			e := benchEngine(b, routes, n)
			ctx := context.Background()
			pad := strings.Repeat("x", idBytes-6)
			decide := func(i int) {
				id := fmt.Sprintf("%06d", i%n) + pad
				d, err := e.Decide(ctx, authz.Input{Method: "GET", Path: []string{"users", id}})
				if err != nil || d.Allowed || d.Reason != authz.ReasonUnauthenticated {
					b.Fatalf("Decide() = %+v, %v", d, err)
				}
			}
			for i := range n {
				decide(i)
			}
			loopThenReportMemory(b, decide)
		})
	}
}
