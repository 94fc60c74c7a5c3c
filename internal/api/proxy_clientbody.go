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
}

func newClientBody(r *http.Request, rc *http.ResponseController, idle time.Duration) *clientBody {
	if idle <= 0 {
		idle = defaultClientBodyIdle
	}
	return &clientBody{ReadCloser: r.Body, rc: rc, idle: idle}
}

func (b *clientBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	if !b.settled {
		b.rc.SetReadDeadline(time.Now().Add(b.idle))
	}
	b.mu.Unlock()
	n, err := b.ReadCloser.Read(p)
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
// An answer that comes before the body is all read closes the connection
// after it: the transport may still be reading that body, and on HTTP/1
// Go's server would otherwise read the connection for the next request at
// the same time (a panic, golang/go#68560).
func settleClientBody(next func(*http.Response) error) func(*http.Response) error {
	return func(res *http.Response) error {
		if res.Request != nil {
			if b := clientBodyOf(res.Request); b != nil && !b.settle() {
				res.Header.Set("Connection", "close")
			}
		}
		if next == nil {
			return nil
		}
		return next(res)
	}
}
