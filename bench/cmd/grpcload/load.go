package main

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
)

// result is one measured run against one target.
type result struct {
	allowed, denied, errors int
	duration                time.Duration
	p50, p99                time.Duration
	serverCPU, clientCPU    float64 // seconds: the target's, and this load client's
}

func (r result) rps() float64 { return float64(r.allowed+r.denied) / r.duration.Seconds() }

// cpuPerCheck is the server's CPU time per answered check, in µs: what a
// check costs the target whatever the load client took of the cores.
func (r result) cpuPerCheck() float64 { return 1e6 * r.serverCPU / float64(max(1, r.allowed+r.denied)) }

// requests builds one check per token.
func requests(route string, tokens []string) []*authv3.CheckRequest {
	reqs := make([]*authv3.CheckRequest, len(tokens))
	for i, t := range tokens {
		reqs[i] = check(route, t)
	}
	return reqs
}

// check is what Envoy sends for GET route with a bearer token: the same
// attributes for both targets.
func check(route, token string) *authv3.CheckRequest {
	headers := map[string]string{
		":authority": "api.bench.example", ":method": "GET", ":path": route, ":scheme": "https",
		"user-agent": "grpcload", "x-forwarded-proto": "https", "x-request-id": "bench",
	}
	if token != "" {
		headers["authorization"] = "Bearer " + token
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
		Http: &authv3.AttributeContext_HttpRequest{
			Id: "bench", Method: "GET", Host: "api.bench.example", Path: route, Scheme: "https", Protocol: "HTTP/1.1", Headers: headers,
		},
	}}}
}

// load sends checks from workers goroutines over the clients for d. With
// distinct, each check takes the next request of the list from *offset on
// (so every token is new to the target); otherwise each worker replays
// the requests of its own clients. Requests are built beforehand, so the
// client spends its share of the cores on the calls alone. Every answer is counted: allowed,
// denied, or a gRPC error.
func load(ctx context.Context, clients []authv3.AuthorizationClient, reqs []*authv3.CheckRequest, distinct bool, offset *int, workers int, d time.Duration) result {
	var next atomic.Int64
	var wg sync.WaitGroup
	type tally struct {
		allowed, denied, errors int
		lat                     []time.Duration
	}
	tallies := make([]tally, workers)
	stop := time.Now().Add(d)
	// One deadline for the whole run, past its end: every call carries
	// it (as grpc-timeout) and none can hang, without a timer per call.
	ctx, cancel := context.WithDeadline(ctx, stop.Add(5*time.Second))
	defer cancel()
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			t := &tallies[w]
			t.lat = make([]time.Duration, 0, 1<<14)
			client := clients[w%len(clients)]
			for i := 0; time.Now().Before(stop) && ctx.Err() == nil; i++ {
				var req *authv3.CheckRequest
				if distinct {
					req = reqs[(*offset+int(next.Add(1)))%len(reqs)]
				} else {
					req = reqs[(w+i*workers)%len(reqs)]
				}
				t0 := time.Now()
				resp, err := client.Check(ctx, req)
				t.lat = append(t.lat, time.Since(t0))
				switch {
				case err != nil:
					t.errors++
				case codes.Code(resp.GetStatus().GetCode()) == codes.OK:
					t.allowed++
				default:
					t.denied++
				}
			}
		})
	}
	wg.Wait()
	r := result{duration: time.Since(start)}
	var lat []time.Duration
	for _, t := range tallies {
		r.allowed, r.denied, r.errors = r.allowed+t.allowed, r.denied+t.denied, r.errors+t.errors
		lat = append(lat, t.lat...)
	}
	if distinct {
		*offset = (*offset + int(next.Load())) % len(reqs)
	}
	slices.Sort(lat)
	if n := len(lat); n > 0 {
		r.p50, r.p99 = lat[n/2], lat[min(n-1, n*99/100)]
	}
	return r
}
