package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/policygate/policygate/internal/authn/authntest"
	"github.com/policygate/policygate/internal/testwait"
)

// loadCase is one kind of request in the mix and the answer it must get.
type loadCase struct {
	name       string
	path       string
	auth       []string // Authorization values; nil for none
	wantStatus int
	wantError  string // JSON "error"; "" for 2xx
}

func loadMix(t *testing.T, p *authntest.Provider) []loadCase {
	t.Helper()
	plain := p.Token(t, nil)
	scoped := p.Token(t, map[string]any{"scope": "openid read:messages"})
	rbac := p.Token(t, map[string]any{"permissions": []string{"read:messages"}})
	forged := authntest.Sign(t, authntest.NewKey(t, "key-1"), p.Claims())
	expired := p.Token(t, map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})
	none := authntest.Segment(t, map[string]any{"alg": "none"}) + "." + authntest.Segment(t, p.Claims()) + "."
	b := func(tok string) []string { return []string{"Bearer " + tok} }
	return []loadCase{
		{"public_anonymous", "/api/public", nil, 200, ""},
		{"public_forged", "/api/public", b(forged), 200, ""},
		{"private_plain", "/api/private", b(plain), 200, ""},
		{"private_anonymous", "/api/private", nil, 401, "unauthorized"},
		{"private_forged", "/api/private", b(forged), 401, "invalid_token"},
		{"private_expired", "/api/private", b(expired), 401, "invalid_token"},
		{"private_alg_none", "/api/private", b(none), 401, "invalid_token"},
		{"private_two_headers", "/api/private", []string{"Bearer " + plain, "Bearer " + plain}, 401, "invalid_request"},
		{"private_basic", "/api/private", []string{"Basic dXNlcjpwYXNz"}, 401, "invalid_request"},
		{"scoped_scope", "/api/private-scoped", b(scoped), 200, ""},
		{"scoped_permissions", "/api/private-scoped", b(rbac), 200, ""},
		{"scoped_plain", "/api/private-scoped", b(plain), 403, "insufficient_scope"},
		{"scoped_forged", "/api/private-scoped", b(forged), 401, "invalid_token"},
		{"unknown_route", "/api/nope", b(scoped), 404, "not_found"},
		{"dot_segment", "/api/%2e%2e/private", b(scoped), 404, "not_found"},
	}
}

// TestConcurrentMixedLoad sends a mix of valid, scoped, invalid, forged
// and malformed requests from 200 goroutines at once through a real HTTP
// server, twice, and checks every answer (run it with -race). It then
// checks that the second round left no more goroutines and no more heap
// than the first: a leak per request would show as growth.
func TestConcurrentMixedLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	s := newStack(t)
	srv := httptest.NewServer(s.handler)
	t.Cleanup(srv.Close)
	mix := loadMix(t, s.provider)
	// Fresh tokens per worker, so the verified-token cache sees misses too.
	const workers, perWorker = 200, 12
	fresh := make([]string, workers)
	for i := range fresh {
		fresh[i] = s.provider.Token(t, map[string]any{"jti": fmt.Sprint(i), "scope": "read:messages"})
	}
	transport := &http.Transport{MaxIdleConnsPerHost: workers}
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}

	round := func() (requests int) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		var wg sync.WaitGroup
		errs := make(chan string, workers*perWorker)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perWorker {
					c := mix[(w+i)%len(mix)]
					if i%4 == 3 {
						c = loadCase{"scoped_fresh", "/api/private-scoped", []string{"Bearer " + fresh[w]}, 200, ""}
					}
					if msg := check(ctx, client, srv.URL, c); msg != "" {
						errs <- msg
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		n := 0
		for msg := range errs {
			if n++; n <= 10 {
				t.Error(msg)
			}
		}
		if n > 10 {
			t.Errorf("... and %d more wrong answers", n-10)
		}
		transport.CloseIdleConnections()
		return workers * perWorker
	}

	round() // warm up: connections, caches, OPA's compiled plans
	g1, h1 := settle(t)
	n := round()
	// Goroutines of closed connections exit soon but not at once: allow
	// them a bounded while to get back to the baseline.
	var g2 int
	var h2 uint64
	testwait.Until(10*time.Second, func() bool {
		g2, h2 = settle(t)
		return g2 <= g1+5
	}) // the check below says what did not settle
	t.Logf("%d requests; goroutines %d -> %d; heap %d KiB -> %d KiB", n, g1, g2, h1>>10, h2>>10)
	if g2 > g1+5 {
		t.Errorf("goroutines grew from %d to %d over %d requests", g1, g2, n)
	}
	if h2 > h1+8<<20 {
		t.Errorf("heap grew from %d KiB to %d KiB over %d requests", h1>>10, h2>>10, n)
	}
	if series := serverErrorSeries(t, s); len(series) > 0 {
		t.Errorf("5xx answers counted: %v", series)
	}
}

// check sends one request and returns what was wrong with the answer.
func check(ctx context.Context, client *http.Client, base string, c loadCase) string {
	req, err := http.NewRequestWithContext(ctx, "GET", base+c.path, nil)
	if err != nil {
		return err.Error()
	}
	for _, v := range c.auth {
		req.Header.Add("Authorization", v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Sprintf("%s: %v", c.name, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Sprintf("%s: read body: %v", c.name, err)
	}
	if resp.StatusCode != c.wantStatus {
		return fmt.Sprintf("%s: status %d %s, want %d", c.name, resp.StatusCode, raw, c.wantStatus)
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		return fmt.Sprintf("%s: body %q is not JSON", c.name, raw)
	}
	if c.wantError != "" && body["error"] != c.wantError {
		return fmt.Sprintf("%s: error %v, want %s", c.name, body["error"], c.wantError)
	}
	if c.wantError == "" && body["message"] == nil {
		return fmt.Sprintf("%s: body %s has no message", c.name, raw)
	}
	return ""
}

// settle waits (bounded) for goroutines of finished requests to exit and
// returns the goroutine count and the live heap after a collection.
func settle(t *testing.T) (goroutines int, heap uint64) {
	t.Helper()
	// Stable means three equal counts 50 ms apart (at most 5 s of trying).
	prev, same := -1, 0
	for range 100 {
		runtime.GC()
		n := runtime.NumGoroutine()
		if n == prev {
			if same++; same == 2 {
				break
			}
		} else {
			prev, same = n, 0
		}
		time.Sleep(50 * time.Millisecond)
	}
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	return runtime.NumGoroutine(), m.HeapAlloc
}

// serverErrorSeries lists the request counters with a 5xx status.
func serverErrorSeries(t *testing.T, s *stack) []string {
	t.Helper()
	families, err := s.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range families {
		if f.GetName() != "policygate_http_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "status" && strings.HasPrefix(l.GetValue(), "5") {
					out = append(out, fmt.Sprintf("%v=%v", m.GetLabel(), m.GetCounter().GetValue()))
				}
			}
		}
	}
	return out
}
