package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// errUpstreamStalled ends a request whose upstream made no progress for
// UPSTREAM_TIMEOUT before its response headers; it wraps
// context.DeadlineExceeded so that the error handler answers 504.
var errUpstreamStalled = fmt.Errorf("upstream made no progress: %w", context.DeadlineExceeded)

// progressTransport bounds the silence of an upstream while it is sent a
// request body. ResponseHeaderTimeout starts only once the body is
// written, and the server's deadlines are lifted for allowed requests, so
// an upstream that accepts the connection but never reads would hold an
// upload forever. Here a watchdog runs from the start of the round trip
// to the response headers and is reset whenever the transport comes back
// for more of the body: a body write that makes no progress for timeout
// cancels the request. The watchdog is paused while the body is read from
// the client (a slow client is not the upstream's silence), and stopped
// at the response headers, so streams and uploads that make progress are
// never cut. Requests without a body are left to ResponseHeaderTimeout and
// cost nothing here.
type progressTransport struct {
	next    http.RoundTripper
	timeout time.Duration
}

func (t progressTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody || t.timeout <= 0 {
		return t.next.RoundTrip(req)
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	w := &watchdog{timeout: t.timeout}
	w.timer = time.AfterFunc(t.timeout, func() { cancel(errUpstreamStalled) })
	out := req.WithContext(ctx)
	out.Body = &progressBody{ReadCloser: req.Body, w: w}
	res, err := t.next.RoundTrip(out)
	w.stop()
	if err == nil && ctx.Err() != nil { // the watchdog fired as the headers came
		res.Body.Close()
		err = context.Cause(ctx)
	}
	if err != nil {
		if context.Cause(ctx) == errUpstreamStalled {
			err = fmt.Errorf("send request body: %w", errUpstreamStalled)
		}
		cancel(nil)
		return nil, err
	}
	if res.StatusCode == http.StatusSwitchingProtocols {
		// ReverseProxy needs the transport's own body to tunnel; the
		// context ends with the client's request.
		return res, nil
	}
	res.Body = &cancelOnClose{ReadCloser: res.Body, cancel: cancel}
	return res, nil
}

// watchdog is the per-request timer of progressTransport.
type watchdog struct {
	mu      sync.Mutex
	timer   *time.Timer
	timeout time.Duration
	stopped bool
}

func (w *watchdog) pause() {
	w.mu.Lock()
	w.timer.Stop()
	w.mu.Unlock()
}

func (w *watchdog) resume() {
	w.mu.Lock()
	if !w.stopped {
		w.timer.Reset(w.timeout)
	}
	w.mu.Unlock()
}

func (w *watchdog) stop() {
	w.mu.Lock()
	w.stopped = true
	w.timer.Stop()
	w.mu.Unlock()
}

// progressBody is the outgoing request body: each Read means the transport
// has written what it had and comes back for more.
type progressBody struct {
	io.ReadCloser
	w *watchdog
}

func (b *progressBody) Read(p []byte) (int, error) {
	b.w.pause()
	n, err := b.ReadCloser.Read(p)
	b.w.resume()
	return n, err
}

// cancelOnClose releases the request's context once the response body is
// done with.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelCauseFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel(nil)
	return err
}
