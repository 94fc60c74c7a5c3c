package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/authn/authntest"
	"github.com/policygate/policygate/internal/testwait"
)

// providerServer runs the real server against a test identity provider.
func providerServer(t *testing.T, p *authntest.Provider) *server {
	t.Helper()
	return startServer(t, nil, map[string]string{
		"LISTEN_ADDR":   "127.0.0.1:0",
		"AUTH_ISSUER":   p.Issuer,
		"AUTH_AUDIENCE": authntest.Audience,
		"AUTH_JWKS_URL": p.JWKSURL(),
	})
}

// rawConn is a client connection that writes bytes as given.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, s *server) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(s.url, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{Conn: c, r: bufio.NewReader(c)}
}

// response reads one response (within a bound) with its JSON body, if any.
func (c *rawConn) response(t *testing.T, within time.Duration) (*http.Response, map[string]any) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		t.Fatalf("no response within %v: %v", within, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	json.Unmarshal(raw, &body)
	return resp, body
}

// closedWithin reports whether the server closes the connection within d,
// reading and discarding whatever it sends first (such as a 408).
func (c *rawConn) closedWithin(d time.Duration) (bool, error) {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c.r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false, err
	}
	return true, err // EOF (nil from io.Copy) or a reset: closed
}

// TestServerLimits checks the HTTP server's own limits against the real
// run(): header size, token size, slow-loris headers and read and idle
// timeouts. Everything is answered 4xx or closed; nothing hangs the server
// and normal requests keep being served. The timeouts are the production
// values (readHeaderTimeout, readTimeout, idleTimeout), so the slow cases
// run in parallel.
func TestServerLimits(t *testing.T) {
	t.Parallel()
	p := authntest.NewProvider(t)
	s := providerServer(t, p)
	tok := p.Token(t, nil)
	pad := func(n int) string { return strings.Repeat("a", n) }

	t.Run("headers", func(t *testing.T) {
		tests := []struct {
			name       string
			request    string
			wantStatus int
			wantError  string // JSON "error", "" when Go's server answers itself
		}{
			{"within_header_limit", "GET /api/private HTTP/1.1\r\nHost: x\r\nX-Pad: " + pad(maxHeaderBytes-2<<10) + "\r\nAuthorization: Bearer " + tok + "\r\n\r\n", 200, ""},
			{"header_over_limit", "GET /api/private HTTP/1.1\r\nHost: x\r\nX-Pad: " + pad(maxHeaderBytes+16<<10) + "\r\nAuthorization: Bearer " + tok + "\r\n\r\n", 431, ""},
			{"authorization_over_limit", "GET /api/private HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + pad(maxHeaderBytes+16<<10) + "\r\n\r\n", 431, ""},
			{"many_small_headers", "GET /api/private HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: b\r\n", (maxHeaderBytes+16<<10)/8) + "\r\n", 431, ""},
			{"request_line_over_limit", "GET /api/private?q=" + pad(maxHeaderBytes+16<<10) + " HTTP/1.1\r\nHost: x\r\n\r\n", 431, ""},
			{"token_over_token_limit", "GET /api/private HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + pad(authn.MaxTokenBytes+1) + "\r\n\r\n", 401, "invalid_token"},
			{"token_at_token_limit", "GET /api/private HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + pad(authn.MaxTokenBytes) + "\r\n\r\n", 401, "invalid_token"},
			{"many_authorization_headers", "GET /api/private HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("Authorization: Bearer "+tok+"\r\n", 20) + "\r\n", 401, "invalid_request"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c := dialRaw(t, s)
				io.WriteString(c, tt.request)
				resp, body := c.response(t, 10*time.Second)
				if resp.StatusCode != tt.wantStatus {
					t.Fatalf("status = %d %v, want %d", resp.StatusCode, body, tt.wantStatus)
				}
				if tt.wantError != "" && body["error"] != tt.wantError {
					t.Errorf("error = %v, want %s", body["error"], tt.wantError)
				}
				if tt.wantStatus == 431 {
					if closed, err := c.closedWithin(5 * time.Second); !closed {
						t.Errorf("connection still open after 431: %v", err)
					}
				}
			})
		}
	})

	// Slow-loris: connections that trickle header lines forever are closed
	// once readHeaderTimeout has passed since the request began, while
	// normal requests go on being served.
	t.Run("slow_loris_headers", func(t *testing.T) {
		t.Parallel()
		const conns = 50
		var wg sync.WaitGroup
		results := make(chan string, conns)
		ctx, stop := context.WithCancel(context.Background())
		defer stop()
		for i := range conns {
			c := dialRaw(t, s)
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Trickle one header line every 100 ms until the server
				// hangs up or the bound runs out.
				io.WriteString(c, "GET /api/private HTTP/1.1\r\nHost: x\r\n")
				deadline := time.Now().Add(3 * readHeaderTimeout)
				for j := 0; time.Now().Before(deadline); j++ {
					if _, err := fmt.Fprintf(c, "X-Slow-%d: %d\r\n", j, i); err != nil {
						results <- "" // closed by the server: good
						return
					}
					select {
					case <-ctx.Done():
						results <- "test ended"
						return
					case <-time.After(100 * time.Millisecond):
					}
				}
				results <- fmt.Sprintf("connection %d still open after %v of trickled headers", i, 3*readHeaderTimeout)
			}()
		}
		// Meanwhile the server answers others.
		for range 20 {
			if got, body := get(t, s.url+"/api/private", tok); got != 200 {
				t.Fatalf("GET /api/private during slow-loris = %d %v, want 200", got, body)
			}
			time.Sleep(50 * time.Millisecond)
		}
		wg.Wait()
		close(results)
		for r := range results {
			if r != "" {
				t.Error(r)
			}
		}
	})

	// A request whose body never finishes. Go's server reads (and drops)
	// up to 256 KiB of unread body before answering, so a small body that
	// trickles holds the request until readTimeout, and no longer: then it
	// is answered and the connection closed. A larger one is answered at
	// once and the connection closed.
	for _, tt := range []struct {
		name          string
		contentLength int
		within        time.Duration
	}{
		{"slow_small_body_read_timeout", 1000, readTimeout + 10*time.Second},
		{"slow_large_body_answered_at_once", 1 << 20, 10 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := dialRaw(t, s)
			fmt.Fprintf(c, "POST /api/private HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nAuthorization: Bearer %s\r\n\r\n0123456789", tt.contentLength, tok)
			done := make(chan struct{})
			defer close(done)
			go func() { // keep trickling until the server hangs up
				for {
					select {
					case <-done:
						return
					case <-time.After(200 * time.Millisecond):
						if _, err := io.WriteString(c, "x"); err != nil {
							return
						}
					}
				}
			}()
			resp, body := c.response(t, tt.within)
			if resp.StatusCode != 405 || body["error"] != "method_not_allowed" || !resp.Close {
				t.Errorf("POST with a never-ending body = %d %v (close %v), want 405 method_not_allowed and Connection: close", resp.StatusCode, body, resp.Close)
			}
			if closed, err := c.closedWithin(10 * time.Second); !closed {
				t.Errorf("connection still open after the answer: %v", err)
			}
		})
	}

	// Half a request line and then silence: closed after readHeaderTimeout.
	t.Run("silent_after_partial_request_line", func(t *testing.T) {
		t.Parallel()
		c := dialRaw(t, s)
		io.WriteString(c, "GET /api/priv")
		if closed, err := c.closedWithin(readHeaderTimeout + 10*time.Second); !closed {
			t.Errorf("silent connection still open: %v", err)
		}
	})

	// A keep-alive connection left idle after a response is closed after
	// idleTimeout, so idle clients cannot pile up.
	t.Run("idle_keep_alive_closed", func(t *testing.T) {
		if testing.Short() {
			t.Skip("waits for idleTimeout")
		}
		t.Parallel()
		c := dialRaw(t, s)
		io.WriteString(c, "GET /api/public HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, body := c.response(t, 10*time.Second); resp.StatusCode != 200 || resp.Close {
			t.Fatalf("keep-alive GET /api/public = %d (close %v) %v, want 200 kept alive", resp.StatusCode, resp.Close, body)
		}
		if closed, err := c.closedWithin(idleTimeout + 15*time.Second); !closed {
			t.Errorf("idle connection still open after idleTimeout (%v): %v", idleTimeout, err)
		}
	})
}

// TestRunProviderDownAtStart: with the identity provider down, the server
// listens but is not ready and grants nothing (503 with Retry-After, even
// for a token the provider really signed); when the provider comes up, it
// becomes ready and serves without a restart.
func TestRunProviderDownAtStart(t *testing.T) {
	t.Parallel()
	p := authntest.NewProvider(t)
	p.SetHandler(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusBadGateway)
	})
	s := startUnready(t, nil, map[string]string{
		"LISTEN_ADDR":   "127.0.0.1:0",
		"AUTH_ISSUER":   p.Issuer,
		"AUTH_AUDIENCE": authntest.Audience,
		"AUTH_JWKS_URL": p.JWKSURL(),
	})
	if !testwait.Until(10*time.Second, func() bool { return p.JWKSRequests() >= 2 }) {
		t.Fatalf("the server did not retry the key fetch within 10s:\n%s", s.stderr.String())
	}
	resp, err := http.Get(s.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("/readyz with the provider down = %d, want 503", resp.StatusCode)
	}
	tok := p.Token(t, map[string]any{"scope": "read:messages"})
	for _, path := range []string{"/api/private", "/api/private-scoped"} {
		req, _ := http.NewRequest("GET", s.url+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != 503 || body["error"] != "temporarily_unavailable" || resp.Header.Get("Retry-After") == "" {
			t.Errorf("GET %s before keys = %d %v (Retry-After %q), want 503 temporarily_unavailable", path, resp.StatusCode, body, resp.Header.Get("Retry-After"))
		}
	}
	if got, _ := get(t, s.url+"/api/public", ""); got != 200 {
		t.Errorf("GET /api/public before keys = %d, want 200", got)
	}

	p.SetHandler(nil)
	// The retry backoff is capped at 30s.
	if !testwait.Until(45*time.Second, func() bool {
		got, _ := get(t, s.url+"/api/private-scoped", tok)
		return got == 200
	}) {
		t.Fatalf("not serving 45s after the provider came up:\n%s", s.stderr.String())
	}
	if resp, err := http.Get(s.url + "/readyz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("/readyz after recovery = %v, %v; want 200", resp, err)
	}
	if strings.Contains(s.stderr.String(), tok) {
		t.Error("the log contains the raw token")
	}
}

// TestRunProductionHasNoDevRoutes: outside --dev nothing mints tokens or
// serves a key set; those routes exist only with the dev issuer.
func TestRunProductionHasNoDevRoutes(t *testing.T) {
	t.Parallel()
	s := providerServer(t, authntest.NewProvider(t))
	for _, path := range []string{"/dev/token", "/dev/token?scope=read:messages", "/.well-known/jwks.json", "/.well-known/openid-configuration"} {
		if got, body := get(t, s.url+path, ""); got != 404 {
			t.Errorf("GET %s in production = %d %v, want 404", path, got, body)
		}
	}
}
