package api

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
)

// defaultClientBodyIdle is how long a proxied request's client may send
// nothing while its body is read: the main listener's whole-request
// ReadTimeout, here per read, since the proxy lifts that deadline so that
// long uploads are not cut.
const defaultClientBodyIdle = 10 * time.Second

// clientBodyKey keys a request's *clientBody in its context.
type clientBodyKey struct{}

// clientBody is the client's request body as the reverse proxy reads it.
// Each read has idle to bring bytes (progress renews the deadline, so an
// upload that keeps moving is never cut), and a failure to read it (a
// malformed chunked encoding, a body shorter than its Content-Length, a
// stall, a dropped connection) is kept, so that the error handler blames
// the client with a 400 rather than the upstream with a 502.
type clientBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration

	mu      sync.Mutex
	err     error
	settled bool // the response headers came: no more deadlines
	done    bool // the body was read to its end
	http1   bool // an HTTP/1 request (one connection, one request at a time)

	readMu  sync.Mutex // held while a Read is in progress
	stopped bool       // under readMu: the handler is done with the body
}

func newClientBody(r *http.Request, rc *http.ResponseController, idle time.Duration) *clientBody {
	if idle <= 0 {
		idle = defaultClientBodyIdle
	}
	return &clientBody{ReadCloser: r.Body, rc: rc, idle: idle, http1: r.ProtoMajor == 1}
}

func (b *clientBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	if !b.settled {
		b.rc.SetReadDeadline(time.Now().Add(b.idle))
	}
	b.mu.Unlock()
	b.readMu.Lock()
	if b.stopped {
		b.readMu.Unlock()
		return 0, errors.New("proxy: body read after the answer")
	}
	n, err := b.ReadCloser.Read(p)
	b.readMu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case err == io.EOF:
		b.done = true
		b.settleLocked()
	case err != nil && b.err == nil:
		b.err = err
	}
	return n, err
}

// settle lifts the read deadline once the upstream has answered: the
// response may stream for as long as it likes, and a body the upstream
// did not read to the end must not end it. It reports whether the body
// had been read to its end.
func (b *clientBody) settle() (done bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.settleLocked()
	return b.done
}

func (b *clientBody) settleLocked() {
	if !b.settled {
		b.settled = true
		b.rc.SetReadDeadline(time.Time{})
	}
}

// failure describes why the body could not be read, "" when it could.
func (b *clientBody) failure() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.err == nil:
		return ""
	case errors.Is(b.err, os.ErrDeadlineExceeded):
		return "the request body stalled: nothing arrived for " + b.idle.String()
	default:
		return "the request body could not be read"
	}
}

// clientBodyOf returns the request's *clientBody, nil when it has none.
func clientBodyOf(r *http.Request) *clientBody {
	b, _ := r.Context().Value(clientBodyKey{}).(*clientBody)
	return b
}

// settleClientBody runs before next (which may be nil) on every upstream
// response: the client's body deadline ends with the response headers.
// An HTTP/1 answer that comes before the body is all read closes the
// connection after it: the transport may still be reading that body, and
// Go's server would otherwise read the connection for the next request at
// the same time (a panic, golang/go#68560). HTTP/2 streams share their
// connection, and Connection: close there would end it for all of them.
func settleClientBody(next func(*http.Response) error) func(*http.Response) error {
	return func(res *http.Response) error {
		if res.Request != nil {
			// Not on a 101: ReverseProxy tunnels it only when its
			// Upgrade (named in Connection) matches the request's, and a
			// 101 whose Connection said close would match a request that
			// asked for no upgrade at all.
			if b := clientBodyOf(res.Request); b != nil && !b.settle() && b.http1 && res.StatusCode != http.StatusSwitchingProtocols {
				res.Header.Set("Connection", "close")
			}
		}
		if next == nil {
			return nil
		}
		return next(res)
	}
}

// unfinished reports whether the body was not read to its end.
func (b *clientBody) unfinished() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.done
}

// stop makes the server's own drain of an unfinished body fail at once:
// it waits for a Read in progress (the transport may still be reading),
// which Go's server would otherwise let reset the read deadline.
func (b *clientBody) stop() {
	b.rc.SetReadDeadline(time.Now())
	b.readMu.Lock()
	b.stopped = true
	b.readMu.Unlock()
	b.rc.SetReadDeadline(time.Now())
}
