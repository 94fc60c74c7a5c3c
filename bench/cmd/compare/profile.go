package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// pprofOverlay adds a file to policygate's main package, for this build
// only, that serves net/http/pprof on BENCH_PPROF_ADDR: the product stays
// free of a profiling endpoint, and the profile is of the real server.
func pprofOverlay(work, serverDir string) (string, error) {
	src := filepath.Join(work, "zz_bench_pprof.go")
	code := `package main

import (
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	addr := os.Getenv("BENCH_PPROF_ADDR")
	if addr == "" {
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		panic(err)
	}
	go http.Serve(ln, nil)
}
`
	if err := os.WriteFile(src, []byte(code), 0o600); err != nil {
		return "", err
	}
	overlay := filepath.Join(work, "overlay.json")
	b := fmt.Sprintf(`{"Replace": {%q: %q}}`, filepath.Join(serverDir, "zz_bench_pprof.go"), src)
	return overlay, os.WriteFile(overlay, []byte(b), 0o600)
}

// startProfile fetches a CPU profile covering most of a measured run.
func startProfile(ctx context.Context, addr, file string, d time.Duration) chan error {
	done := make(chan error, 1)
	secs := max(1, int((d-500*time.Millisecond)/time.Second))
	go func() {
		c := &http.Client{Timeout: d + 30*time.Second}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs), nil)
		if err != nil {
			done <- err
			return
		}
		req.Close = true // leave no connection (nor goroutine) behind in the server
		resp, err := c.Do(req)
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %s", resp.Status)
		}
		if err == nil {
			err = os.WriteFile(file, b, 0o644)
		}
		done <- err
	}()
	return done
}
