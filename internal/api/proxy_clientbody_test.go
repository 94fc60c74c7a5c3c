package api_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/policygate/policygate/internal/api"
	"github.com/policygate/policygate/internal/authn/authntest"
)

// dialProxy opens a connection to the proxy that the test closes, gives
// it a deadline (a hang fails there) and writes head on it.
func dialProxy(t *testing.T, env *proxyEnv, deadline time.Duration, head string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(env.proxy.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(deadline))
	io.WriteString(conn, head)
	return conn
}

// rawProxyRequest writes head and then each part of the body (pausing
// pause before each part after the first) on a fresh connection to the
// proxy, and reads the answer.
func rawProxyRequest(t *testing.T, env *proxyEnv, head string, parts []string, pause time.Duration) (*http.Response, string) {
	t.Helper()
	conn := dialProxy(t, env, 10*time.Second, head) // a hang fails at the deadline
	go func() {
		for i, p := range parts {
			if i > 0 {
				time.Sleep(pause)
			}
			if _, err := io.WriteString(conn, p); err != nil {
				return
			}
		}
	}()
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// A request body the client fails to deliver (malformed, or stalled) is
// the client's fault: 400 with a JSON body and the connection closed, not
// the 502 that says the upstream could not be reached. A body that keeps
// arriving, however slowly, is never cut.
func TestProxyClientBodyFailures(t *testing.T) {
	const idle = 300 * time.Millisecond
	env := newProxyEnv(t, func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "got %d bytes", n)
	}, func(o *api.ProxyOptions) { o.ClientBodyIdle = idle })
	chunked := "GET /api/public HTTP/1.1\r\nHost: x.example\r\nTransfer-Encoding: chunked\r\n\r\n"
	tests := []struct {
		name       string
		head       string
		parts      []string
		pause      time.Duration
		wantStatus int
		wantBody   string
	}{
		{name: "chunk_longer_than_its_size", head: chunked, parts: []string{"4\r\nabcdXX\r\n0\r\n\r\n"},
			wantStatus: 400, wantBody: `"error_description":"the request body could not be read"`},
		{name: "chunk_size_not_hex", head: chunked, parts: []string{"zz\r\nabcd\r\n0\r\n\r\n"},
			wantStatus: 400, wantBody: `"error":"invalid_request"`},
		{name: "bad_trailer", head: chunked, parts: []string{"4\r\nabcd\r\n0\r\nbad trailer\r\n\r\n"},
			wantStatus: 400, wantBody: `"error":"invalid_request"`},
		{name: "body_never_comes", head: "GET /api/public HTTP/1.1\r\nHost: x.example\r\nContent-Length: 10\r\n\r\n", parts: []string{"ab"},
			wantStatus: 400, wantBody: `"error_description":"the request body stalled: nothing arrived for 300ms"`},
		{name: "slow_body_that_progresses", head: "GET /api/public HTTP/1.1\r\nHost: x.example\r\nContent-Length: 6\r\n\r\n",
			parts: []string{"ab", "cd", "ef"}, pause: idle * 2 / 3, wantStatus: 200, wantBody: "got 6 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := rawProxyRequest(t, env, tt.head, tt.parts, tt.pause)
			if res.StatusCode != tt.wantStatus || !strings.Contains(body, tt.wantBody) {
				t.Errorf("answer = %d %s, want %d with %s", res.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
			if tt.wantStatus == 400 && !res.Close {
				t.Error("a 400 for a body left unread keeps the connection open")
			}
		})
	}
}

// An upstream that answers before it reads the body reaches the client
// at once, whatever the client does with the rest of its body.
func TestProxyEarlyAnswerWhileBodyStalls(t *testing.T) {
	const idle = 100 * time.Millisecond
	env := newProxyEnv(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 6 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
			time.Sleep(idle)
		}
	}, func(o *api.ProxyOptions) { o.ClientBodyIdle = idle })
	res, body := rawProxyRequest(t, env, "GET /api/public HTTP/1.1\r\nHost: x.example\r\nContent-Length: 1000000\r\n\r\n", []string{"ab"}, 0)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "data: 5") {
		t.Errorf("answer = %d %q, want the upstream's 200 with its six events", res.StatusCode, body)
	}
}

// An answer that comes before the client's body is all read closes the
// connection after it: the transport may still be reading that body, and
// Go's HTTP/1 server must not read the next request meanwhile.
// rawUpstream is an upstream that reads each request's head and leaves
// the rest to serve; it returns its address.
func rawUpstream(t *testing.T, serve func(c net.Conn, br *bufio.Reader, req *http.Request)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for range 8 { // bounded: the tests make a few requests
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(c)
				if req, err := http.ReadRequest(br); err == nil {
					serve(c, br, req)
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// earlyUpstream answers before it reads the body (Go's own server would
// read part of the body first), then drains it.
func earlyUpstream(t *testing.T) string {
	return rawUpstream(t, func(c net.Conn, _ *bufio.Reader, req *http.Request) {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nearly")
		io.Copy(io.Discard, req.Body)
	})
}

// An upstream that fails while the body is still coming gets its 502, on
// a connection that then ends: what the client sends next belongs to the
// body it declared and must never be read as a request.
func TestProxyUpstreamFailureMidBodyEndsTheConnection(t *testing.T) {
	up := rawUpstream(t, func(c net.Conn, _ *bufio.Reader, _ *http.Request) {
		c.(*net.TCPConn).SetLinger(0) // a reset, mid-upload
	})
	env := newProxyEnv(t, nil, func(o *api.ProxyOptions) { o.Upstream.Host = up })
	conn := dialProxy(t, env, 10*time.Second, "GET /api/public HTTP/1.1\r\nHost: x.example\r\nContent-Length: 1000\r\n\r\nab")
	go func() { time.Sleep(30 * time.Millisecond); io.WriteString(conn, "cd") }()
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	io.ReadAll(res.Body)
	if res.StatusCode != http.StatusBadGateway || !res.Close {
		t.Errorf("answer = %d, close %v; want 502 with Connection: close", res.StatusCode, res.Close)
	}
	io.WriteString(conn, "GET /api/public?inside-the-body=1 HTTP/1.1\r\nHost: x.example\r\n\r\n")
	if res, err := http.ReadResponse(br, nil); err == nil {
		t.Errorf("bytes of the declared body were answered as a request: %d", res.StatusCode)
	}
}

// An upstream that breaks off its answer while the client's body is
// unfinished (ReverseProxy then aborts the handler) leaves no connection
// waiting for the rest of that body.
func TestProxyAbortedAnswerDoesNotWaitForTheBody(t *testing.T) {
	up := rawUpstream(t, func(c net.Conn, _ *bufio.Reader, _ *http.Request) {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nearly")
		time.Sleep(50 * time.Millisecond)
		c.(*net.TCPConn).SetLinger(0) // a reset, mid-answer
	})
	env := newProxyEnv(t, nil, func(o *api.ProxyOptions) { o.Upstream.Host = up })
	conn := dialProxy(t, env, 5*time.Second, "GET /api/public HTTP/1.1\r\nHost: x.example\r\nContent-Length: 1000\r\n\r\nab") // the test's bound, far above the server's
	if _, err := io.ReadAll(conn); err != nil {
		t.Errorf("reading until the server closes = %v, want the connection closed", err)
	}
}

// An upstream that answers 101 to a request with a body that asked for
// no upgrade gets no tunnel, whatever the client's body has done.
func TestProxyNoTunnelWithoutUpgrade(t *testing.T) {
	up := rawUpstream(t, func(c net.Conn, _ *bufio.Reader, _ *http.Request) {
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
		time.Sleep(200 * time.Millisecond)
	})
	env := newProxyEnv(t, nil, func(o *api.ProxyOptions) { o.Upstream.Host = up })
	res, body := rawProxyRequest(t, env, "GET /api/public HTTP/1.1\r\nHost: x.example\r\nContent-Length: 5\r\n\r\n", []string{"he"}, 0)
	if res.StatusCode != http.StatusBadGateway {
		t.Errorf("answer = %d %s, want 502 (no tunnel)", res.StatusCode, body)
	}
}

// A websocket handshake carries no body: an Upgrade request with one is
// refused before the upstream sees it (its body would reach the tunnel
// mixed with the tunnelled bytes).
func TestProxyUpgradeWithBodyIsRefused(t *testing.T) {
	reached := make(chan struct{}, 1)
	up := rawUpstream(t, func(c net.Conn, _ *bufio.Reader, _ *http.Request) {
		reached <- struct{}{}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	})
	env := newProxyEnv(t, nil, func(o *api.ProxyOptions) { o.Upstream.Host = up })
	for _, framing := range []string{"Content-Length: 5\r\n\r\nhello", "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"} {
		res, body := rawProxyRequest(t, env, "GET /api/public HTTP/1.1\r\nHost: x.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+framing, nil, 0)
		if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "an Upgrade request carries no body") {
			t.Errorf("%q: answer = %d %s, want 403 invalid_request", framing, res.StatusCode, body)
		}
	}
	select {
	case <-reached:
		t.Error("the upstream saw an Upgrade request with a body")
	default:
	}
}

// After an early answer, a client that sends no more of its body does not
// keep the connection: Go's server would wait for the rest, with no
// deadline, before it closes.
func TestProxyEarlyAnswerDoesNotWaitForTheBody(t *testing.T) {
	up := earlyUpstream(t)
	env := newProxyEnv(t, nil, func(o *api.ProxyOptions) { o.Upstream.Host = up })
	conn := dialProxy(t, env, 5*time.Second, "GET /api/public HTTP/1.1\r\nHost: x.example\r\nContent-Length: 1000\r\n\r\nab") // the test's bound, far above the server's
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	io.ReadAll(res.Body)
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after the answer, reading the connection = %v, want io.EOF (closed by the server)", err)
	}
}

// HTTP/2 streams share a connection: requests with and without a body
// keep it (Connection: close would end it for every stream).
func TestProxyHTTP2KeepsItsConnection(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "hi")
	}))
	t.Cleanup(up.Close)
	p := authntest.NewProvider(t)
	reg := prometheus.NewRegistry()
	u, _ := url.Parse(up.URL)
	opts := api.Options{Gate: facesGate(t, p, policyWith(t, facesRoutes), decisionCacheOn, reg), Registry: reg, Realm: "test",
		Proxy: &api.ProxyOptions{Upstream: u, Timeout: 5 * time.Second, ClientBodyIdle: 300 * time.Millisecond}, SeparateAdmin: true}
	srv := httptest.NewUnstartedServer(api.NewServer(opts))
	var conns atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	client := srv.Client()
	for i, body := range []string{"", "", "a body", "", "another"} {
		var r io.Reader
		if body != "" {
			r = strings.NewReader(body)
		}
		req, _ := http.NewRequest("GET", srv.URL+"/api/public", r)
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.ProtoMajor != 2 || res.StatusCode != http.StatusOK || string(b) != "hi" {
			t.Fatalf("request %d: %s %d %q, want HTTP/2 200 hi", i, res.Proto, res.StatusCode, b)
		}
	}
	// A body that stalls gets its 400, and the connection stays.
	pr, pw := io.Pipe()
	go func() { pw.Write([]byte("ab")) }() // and then nothing
	t.Cleanup(func() { pw.Close() })
	req, _ := http.NewRequest("GET", srv.URL+"/api/public", pr)
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("stalled body: %d, want 400", res.StatusCode)
	}
	if res, err := client.Get(srv.URL + "/api/public"); err != nil {
		t.Fatal(err)
	} else {
		io.ReadAll(res.Body)
		res.Body.Close()
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 7 sequential HTTP/2 requests, want 1", n)
	}
}

func TestProxyEarlyAnswerClosesTheConnection(t *testing.T) {
	up := earlyUpstream(t)
	env := newProxyEnv(t, nil, func(o *api.ProxyOptions) { o.Upstream.Host = up })
	conn := dialProxy(t, env, 10*time.Second, "GET /api/public HTTP/1.1\r\nHost: x.example\r\nContent-Length: 200000\r\n\r\nab")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || string(body) != "early" || !res.Close {
		t.Fatalf("answer = %d %q, close %v; want the upstream's early 200 with Connection: close", res.StatusCode, body, res.Close)
	}
	// The rest of the body and a pipelined request find the connection
	// closed, never a second answer.
	io.WriteString(conn, strings.Repeat("x", 200000-2)+"GET /api/public HTTP/1.1\r\nHost: x.example\r\n\r\n")
	if res, err := http.ReadResponse(br, nil); err == nil {
		t.Errorf("a second answer on the connection: %d", res.StatusCode)
	}
}

// In proxy mode every request target is the gate's: the asterisk form is
// refused like any target not in origin form, not answered 404.
func TestProxyAsteriskTarget(t *testing.T) {
	env := newProxyEnv(t, nil, nil)
	res, body := rawProxyRequest(t, env, "GET * HTTP/1.1\r\nHost: x.example\r\n\r\n", nil, 0)
	if res.StatusCode != http.StatusForbidden || !strings.Contains(body, `"error":"invalid_request"`) {
		t.Errorf("GET * = %d %s, want 403 invalid_request", res.StatusCode, body)
	}
}
