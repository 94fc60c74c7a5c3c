package api_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/policygate/policygate/internal/api"
	"github.com/policygate/policygate/internal/authn/authntest"
)

// BenchmarkProxyMode is one GET over loopback with a replayed token:
// straight to the upstream, then through policygate in proxy mode. The
// difference is the gate plus one ReverseProxy hop (docs/proxy-mode.md).
func BenchmarkProxyMode(b *testing.B) {
	p := authntest.NewProvider(b)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "upstream")
	}))
	b.Cleanup(up.Close)
	u, _ := url.Parse(up.URL)
	reg := prometheus.NewRegistry()
	g := facesGate(b, p, policyWith(b, facesRoutes), decisionCacheOn, reg)
	pg := httptest.NewServer(api.NewServer(api.Options{Gate: g, Registry: reg, Realm: "test",
		Proxy: &api.ProxyOptions{Upstream: u, Timeout: 5 * time.Second}, SeparateAdmin: true}))
	b.Cleanup(pg.Close)
	tok := "Bearer " + p.Token(b, map[string]any{"scope": "read:messages"})
	for _, bc := range []struct{ name, base string }{{"direct", up.URL}, {"through_policygate", pg.URL}} {
		b.Run(bc.name, func(b *testing.B) {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
			defer client.CloseIdleConnections()
			req, _ := http.NewRequest("GET", bc.base+"/api/private-scoped", nil)
			req.Header.Set("Authorization", tok)
			b.ReportAllocs()
			for b.Loop() {
				res, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					b.Fatalf("status %d", res.StatusCode)
				}
			}
		})
	}
}
