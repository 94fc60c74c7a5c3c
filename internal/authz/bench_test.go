package authz_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/policygate/policygate/internal/authz"
	"github.com/policygate/policygate/internal/testfile"
)

// benchRoutes is a route table of about n routes for the shipped policy:
// literal routes, "{id}" patterns (half the table) and some final "*".
// Its three smallest members are the benchmark's paths' routes.
func benchRoutes(n int) map[string]any {
	scoped := func(scope string) map[string]any {
		return map[string]any{"GET": map[string]any{"access": "authenticated", "scopes": []any{scope}}}
	}
	routes := map[string]any{
		"/api/public":           map[string]any{"GET": map[string]any{"access": "public"}},
		"/api/private-scoped":   scoped("read:messages"),
		"/api/svc17/items/{id}": scoped("read:messages"),
	}
	for i := 0; len(routes) < n; i++ {
		routes[fmt.Sprintf("/api/svc%d/status", i)] = map[string]any{"GET": map[string]any{"access": "public"}}
		if i%10 == 0 {
			routes[fmt.Sprintf("/api/svc%d/files/*", i)] = scoped("read:files")
		} else if i != 17 {
			routes[fmt.Sprintf("/api/svc%d/items/{id}", i)] = scoped("read:items")
		}
	}
	return routes
}

func benchEngine(b *testing.B, routes map[string]any, cacheSize int) *authz.Engine {
	b.Helper()
	rego, err := os.ReadFile("../../policies/authz/authz.rego")
	if err != nil {
		b.Fatal(err)
	}
	return benchEngineFor(b, rego, routes, cacheSize)
}

func benchEngineFor(b *testing.B, rego []byte, routes map[string]any, cacheSize int) *authz.Engine {
	b.Helper()
	dir := b.TempDir()
	data, err := json.Marshal(map[string]any{"routes": routes})
	if err != nil {
		b.Fatal(err)
	}
	testfile.Write(b, filepath.Join(dir, "authz", "authz.rego"), string(rego))
	testfile.Write(b, filepath.Join(dir, "authz", "data.json"), string(data))
	e, err := authz.New(context.Background(), authz.Config{PolicyDir: dir, DecisionCacheSize: cacheSize})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Stop(context.Background()) })
	awaitPolicy(b, e)
	return e
}

// BenchmarkDecide: the shipped policy over a 3-route and a 2000-route
// table, for a literal and a pattern path; uncached is a full evaluation
// (decision cache off), cached a hit.
func BenchmarkDecide(b *testing.B) {
	claims := map[string]any{"sub": "auth0|alice", "iss": "https://tenant.example.com/", "aud": "https://api", "scope": "read:messages"}
	paths := []struct {
		name string
		path []string
	}{
		{"literal", []string{"api", "private-scoped"}},
		{"pattern", []string{"api", "svc17", "items", "42"}},
	}
	// floor: the smallest Rego evaluation through Decide, the reference
	// for "within 3x the engine's floor".
	b.Run("floor", func(b *testing.B) {
		rego := []byte("package authz\n\ndecision := {\"allowed\": true, \"reason\": \"public\", \"required_scopes\": [], \"missing_scopes\": []}\n")
		e := benchEngineFor(b, rego, benchRoutes(3), -1)
		in := authz.Input{Method: "GET", Path: paths[0].path, Claims: claims, Scopes: []string{"read:messages"}}
		b.ReportAllocs()
		for b.Loop() {
			if d, err := e.Decide(context.Background(), in); err != nil || !d.Allowed {
				b.Fatalf("Decide() = %+v, %v", d, err)
			}
		}
	})
	for _, n := range []int{3, 2000} {
		for _, p := range paths {
			for _, c := range []struct {
				name string
				size int
			}{{"uncached", 0}, {"cached", authz.DefaultDecisionCacheSize}} {
				b.Run(fmt.Sprintf("routes=%d/%s/%s", n, p.name, c.name), func(b *testing.B) {
					e := benchEngine(b, benchRoutes(n), c.size)
					in := authz.Input{Method: "GET", Path: p.path, Claims: claims, Scopes: []string{"read:messages"}}
					ctx := context.Background()
					b.ReportAllocs()
					for b.Loop() {
						d, err := e.Decide(ctx, in)
						if err != nil || !d.Allowed {
							b.Fatalf("Decide() = %+v, %v", d, err)
						}
					}
				})
			}
		}
	}
}

// BenchmarkClaimBoundNeighbour: a route whose rule binds a claim to a path
// parameter keys its own decisions per subject; decisions on the other
// routes must stay shared. Distinct subjects with the same scopes on an
// unbound route, with and without such a neighbour in the table: both are
// cache hits at the same cost.
func BenchmarkClaimBoundNeighbour(b *testing.B) {
	bound := map[string]any{"GET": map[string]any{"access": "authenticated", "claims": map[string]any{"sub": map[string]any{"equals_param": "id"}}}}
	for _, tc := range []struct {
		name  string
		bound bool
	}{{"without", false}, {"with", true}} {
		b.Run(tc.name, func(b *testing.B) {
			routes := benchRoutes(3)
			if tc.bound {
				routes["/users/{id}"] = bound
			}
			e := benchEngine(b, routes, authz.DefaultDecisionCacheSize)
			ctx := context.Background()
			subjects := make([]map[string]any, 1000)
			for i := range subjects {
				subjects[i] = map[string]any{"sub": fmt.Sprint("user", i)}
			}
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				in := authz.Input{Method: "GET", Path: []string{"api", "private-scoped"}, Claims: subjects[i%len(subjects)], Scopes: []string{"read:messages"}}
				if d, err := e.Decide(ctx, in); err != nil || !d.Allowed {
					b.Fatalf("Decide() = %+v, %v", d, err)
				}
				i++
			}
		})
	}
}

// BenchmarkCacheMemory reports the Go heap in use with the 2000-route table
// and 20 000 distinct cached decisions (one per subject on a route binding
// sub to {id}); run with -benchtime 1x.
func BenchmarkCacheMemory(b *testing.B) {
	routes := benchRoutes(2000)
	routes["/users/{id}"] = map[string]any{"GET": map[string]any{"access": "authenticated", "claims": map[string]any{"sub": map[string]any{"equals_param": "id"}}}}
	const n = 20_000
	e := benchEngine(b, routes, n)
	ctx := context.Background()
	decide := func(i int) {
		id := fmt.Sprint("user", i%n)
		d, err := e.Decide(ctx, authz.Input{Method: "GET", Path: []string{"users", id}, Claims: map[string]any{"sub": id}})
		if err != nil || !d.Allowed {
			b.Fatalf("Decide() = %+v, %v", d, err)
		}
	}
	// Fill the cache once (what is measured is its memory); the loop then
	// times hits, so -benchtime does not multiply the fill.
	for i := range n {
		decide(i)
	}
	loopThenReportMemory(b, decide)
}

// loopThenReportMemory times decide(0), decide(1), ... and then reports
// the Go heap in use after a collection and what the process took from
// the OS (runtime.MemStats.Sys, which bounds the Go part of the RSS).
func loopThenReportMemory(b *testing.B, decide func(i int)) {
	i := 0
	for b.Loop() {
		decide(i)
		i++
	}
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	b.ReportMetric(float64(m.HeapInuse)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(m.Sys)/(1<<20), "sys-MiB")
}
