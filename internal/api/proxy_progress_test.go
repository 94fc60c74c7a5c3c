package api_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/policygate/policygate/internal/api"
)

// stalledUpstream accepts connections and never reads from them, until
// stop is called.
func stalledUpstream(t *testing.T) (u *url.URL, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	stop = func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}
	return &url.URL{Scheme: "http", Host: ln.Addr().String()}, stop
}

// TestProxyStalledUpload: an allowed upload to an upstream that accepts
// but never reads ends with 504 once the body has made no progress for
// UPSTREAM_TIMEOUT, instead of hanging (the server's deadlines are lifted
// for allowed requests, and ResponseHeaderTimeout starts only once the
// body is written).
func TestProxyStalledUpload(t *testing.T) {
	const timeout = 300 * time.Millisecond
	tests := []struct {
		name   string
		size   int // request body bytes
		header string
	}{
		{name: "large_upload", size: 64 << 20},
		{name: "large_upload_expect_continue", size: 64 << 20, header: "Expect: 100-continue\r\n"},
		{name: "empty_post", size: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, stop := stalledUpstream(t)
			env := newProxyEnv(t, nil, func(o *api.ProxyOptions) { o.Upstream, o.Timeout = up, timeout })
			// Before the proxy's Close, which waits for a hung request.
			t.Cleanup(stop)
			tok := env.provider.Token(t, map[string]any{"scope": "write:files"})
			conn, err := net.Dial("tcp", strings.TrimPrefix(env.proxy.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second)) // a hang fails here
			fmt.Fprintf(conn, "POST /upload HTTP/1.1\r\nHost: x.example\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n%s\r\n", tok, tt.size, tt.header)
			go func() { // until the proxy stops reading or the connection closes
				chunk := make([]byte, 64<<10)
				for sent := 0; sent < tt.size; sent += len(chunk) {
					if _, err := conn.Write(chunk[:min(len(chunk), tt.size-sent)]); err != nil {
						return
					}
				}
			}()
			br := bufio.NewReader(conn)
			res, err := http.ReadResponse(br, nil)
			for err == nil && res.StatusCode == http.StatusContinue {
				res, err = http.ReadResponse(br, nil)
			}
			if err != nil {
				t.Fatalf("POST of %d bytes to a stalled upstream: %v", tt.size, err)
			}
			body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<10))
			if res.StatusCode != http.StatusGatewayTimeout || !strings.Contains(string(body), `"error":"gateway_timeout"`) {
				t.Errorf("POST of %d bytes to a stalled upstream = %d %s, want 504 gateway_timeout", tt.size, res.StatusCode, body)
			}
		})
	}
}

// TestProxyUploadProgress: an upload that keeps making progress is not
// cut, however long it takes in all: neither when the client pauses
// longer than UPSTREAM_TIMEOUT between parts, nor when the upstream reads
// slowly but steadily.
func TestProxyUploadProgress(t *testing.T) {
	t.Run("slow_client", func(t *testing.T) {
		const timeout = 200 * time.Millisecond
		env := newProxyEnv(t, func(w http.ResponseWriter, r *http.Request) {
			b, err := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %v", b, err)
		}, func(o *api.ProxyOptions) { o.Timeout = timeout })
		tok := env.provider.Token(t, map[string]any{"scope": "write:files"})
		pr, pw := io.Pipe()
		go func() {
			for _, part := range []string{"one ", "two ", "three"} {
				pw.Write([]byte(part))
				time.Sleep(2 * timeout)
			}
			pw.Close()
		}()
		status, b := postUpload(t, env, tok, pr, -1)
		if status != 200 || b != "one two three <nil>" {
			t.Errorf("paced upload = %d %q, want 200 and the whole body", status, b)
		}
	})
	t.Run("slow_upstream", func(t *testing.T) {
		// 32 MiB read at 1 MiB per 40 ms: 1.3 s in all, longer than the
		// 1 s timeout, while what loopback's socket buffers hold (a few
		// MiB, which the proxy has written before the upstream reads it)
		// drains well within it.
		const size, step, timeout = 32 << 20, 1 << 20, time.Second
		env := newProxyEnv(t, func(w http.ResponseWriter, r *http.Request) {
			n, err := int64(0), error(nil)
			for err == nil {
				var m int64
				m, err = io.CopyN(io.Discard, r.Body, step)
				n += m
				time.Sleep(40 * time.Millisecond)
			}
			fmt.Fprintf(w, "%d", n)
		}, func(o *api.ProxyOptions) { o.Timeout = timeout })
		tok := env.provider.Token(t, map[string]any{"scope": "write:files"})
		status, b := postUpload(t, env, tok, io.LimitReader(zeros{}, size), size)
		if status != 200 || b != fmt.Sprint(size) {
			t.Errorf("upload read slowly = %d %q, want 200 %d", status, b, size)
		}
	})
}

// postUpload POSTs body (of length size, -1 if unknown) to /upload
// through the proxy with tok, and returns the status and body.
func postUpload(t *testing.T, env *proxyEnv, tok string, body io.Reader, size int64) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", env.proxy.URL+"/upload", body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := env.proxy.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
