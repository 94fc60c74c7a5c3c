package api

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/policygate/policygate/internal/denial"
	"github.com/policygate/policygate/internal/gate"
)

// ProxyOptions turn on proxy mode (UPSTREAM_URL): every request on the
// main listener goes through the gate and, when allowed, to Upstream.
type ProxyOptions struct {
	Upstream *url.URL
	// Timeout bounds the upstream's silence until its response headers
	// (UPSTREAM_TIMEOUT): the connect, each part of the request body it
	// takes, and the wait for the headers; bodies and streams that make
	// progress are not cut.
	Timeout time.Duration
	// StripToken removes Authorization before the upstream
	// (UPSTREAM_STRIP_TOKEN).
	StripToken bool
	// ClientBodyIdle bounds a client's silence while its request body is
	// read (0: defaultClientBodyIdle, the main listener's ReadTimeout).
	ClientBodyIdle time.Duration
	// Transport, when set, replaces the default one (tests).
	Transport http.RoundTripper
}

// upstreamIdleConns is how many idle connections to the upstream the
// transport keeps for reuse. Go's default, 2 per host, means that with more
// requests in flight than that most requests dial a new connection and
// close it after the answer: at 32 concurrent requests dialling was a
// quarter of policygate's CPU. 64 is twice that load, room for bursts; it
// caps only what is kept idle (idle connections close after the
// transport's 90 s IdleConnTimeout), not how many are open at once.
const upstreamIdleConns = 64

// outcomeKey carries the allow to Rewrite, which sets the identity on the
// outbound request after hop-by-hop headers are gone.
type outcomeKey struct{}

// newProxy is the gated reverse proxy. It uses Rewrite, not Director: with
// Director, headers named in the client's Connection header are removed
// after Director ran, so "Connection: X-Auth-Subject" would delete the
// identity header policygate set.
func (s *server) newProxy(o ProxyOptions, corsOrigins []string) http.Handler {
	transport := o.Transport
	if transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = o.Timeout
		// A connect that hangs is the upstream's silence too.
		t.DialContext = (&net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second}).DialContext
		// With "Expect: 100-continue" the body waits this long for the
		// upstream's 100 before it is sent anyway; progressTransport then
		// bounds the sending.
		t.ExpectContinueTimeout = min(time.Second, o.Timeout)
		t.Proxy = nil // never an HTTP_PROXY between policygate and its upstream
		t.MaxIdleConnsPerHost = upstreamIdleConns
		t.MaxIdleConns = upstreamIdleConns // one upstream: the total is the per-host count
		transport = t
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(o.Upstream)
			pr.Out.Host = pr.In.Host // the host the decision used
			out, _ := pr.In.Context().Value(outcomeKey{}).(*gate.Outcome)
			setIdentity(pr.Out.Header, out, o.StripToken)
			pr.SetXForwarded()
		},
		Transport: progressTransport{next: transport, timeout: o.Timeout},
		// When policygate answers CORS, the upstream's own answer would
		// add a second Access-Control-Allow-Origin, which browsers reject.
		ModifyResponse: settleClientBody(corsOwner(corsOrigins)),
		BufferPool:     copyBuffers{},
		// No FlushInterval: ReverseProxy already flushes every write of a
		// text/event-stream response or one without a Content-Length; a
		// forced flush (-1) would cost a write per response for the rest.
		ErrorLog: slog.NewLogLogger(s.logger.Handler(), slog.LevelDebug),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if b := clientBodyOf(r); b != nil {
				if b.http1 && b.unfinished() {
					// The rest of the body will not be read (the handler
					// stops it): the connection ends with this answer, or
					// its bytes would be read as the next request. Not on
					// HTTP/2, where it would end every stream's connection.
					w.Header().Set("Connection", "close")
				}
				if why := b.failure(); why != "" {
					// The client's body failed, not the upstream.
					writeError(w, http.StatusBadRequest, "invalid_request", why)
					return
				}
			}
			status, code, description := http.StatusBadGateway, "bad_gateway", "the upstream could not be reached"
			var ne net.Error
			if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
				status, code, description = http.StatusGatewayTimeout, "gateway_timeout", "the upstream did not answer in time"
			}
			if r.Context().Err() == nil {
				s.logger.LogAttrs(r.Context(), slog.LevelError, "upstream", slog.String("err", err.Error()), slog.Int("status", status))
			}
			writeError(w, status, code, description)
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := s.proxyDecision(r)
		recordOutcome(w, out)
		if out.Kind != gate.Allowed {
			if out.DecisionID != "" {
				w.Header().Set(denial.HeaderDecisionID, out.DecisionID)
			}
			writeRendered(w, s.render.Render(out))
			return
		}
		// Streams and long uploads are not cut by the server's deadlines;
		// ReadHeaderTimeout has already done its job.
		rc := http.NewResponseController(w)
		rc.SetReadDeadline(time.Time{})
		rc.SetWriteDeadline(time.Time{})
		// An upstream may answer before it has read the whole body; on
		// HTTP/1 Go's server would hold that answer until the body is
		// read, however long the client takes to send it.
		rc.EnableFullDuplex()
		ctx := context.WithValue(r.Context(), outcomeKey{}, &out)
		var body *clientBody
		// A request with a body (HTTP/2 gives even a bodyless one a body
		// reader, with a ContentLength of 0) has its client bounded.
		if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
			body = newClientBody(r, rc, o.ClientBodyIdle)
			ctx = context.WithValue(ctx, clientBodyKey{}, body)
			// Also when ReverseProxy aborts the handler (an upstream that
			// breaks off its answer panics with http.ErrAbortHandler):
			// answered before the body was all read, Go's server would
			// wait for the rest with no deadline.
			defer func() {
				if body.http1 && body.unfinished() {
					body.stop()
				}
			}()
		}
		r = r.WithContext(ctx)
		if body != nil {
			r.Body = body
		}
		rp.ServeHTTP(w, r)
	})
}

// proxyDecision asks the gate about a request as the client sent it: its
// method, its Host and its raw request target.
func (s *server) proxyDecision(r *http.Request) gate.Outcome {
	if hasMethodOverride(r.Header) {
		return s.gate.Refuse(gate.ReasonMethodOverride, gate.DescribeOverrideHeader)
	}
	if up, ok := r.Header["Upgrade"]; ok && !isWebSocketUpgrade(up) {
		return s.gate.Refuse(gate.ReasonRequestInfo, "only Upgrade: websocket is tunnelled")
	} else if ok && r.ContentLength != 0 {
		// A handshake has no body (RFC 6455); one still being sent when
		// the tunnel opens would reach the upstream mixed with it.
		return s.gate.Refuse(gate.ReasonRequestInfo, "an Upgrade request carries no body")
	}
	if !strings.HasPrefix(r.RequestURI, "/") {
		return s.gate.Refuse(gate.ReasonRequestInfo, "the request target is not in origin form")
	}
	if r.Host == "" {
		return s.gate.Refuse(gate.ReasonRequestInfo, gate.DescribeMissingHost)
	}
	path, query := gate.SplitTarget(r.RequestURI)
	if gate.QueryOverridesMethod(query) {
		return s.gate.Refuse(gate.ReasonMethodOverride, gate.DescribeOverrideQuery)
	}
	return s.gate.Check(r.Context(), gate.Request{
		Method: r.Method, Host: r.Host, Path: path, Authorization: r.Header.Values("Authorization"),
		StrictHosts: true, // the client picks the Host, not the service
	})
}

// isWebSocketUpgrade reports whether the Upgrade header values are exactly
// one token, websocket (in any case). ReverseProxy tunnels whatever
// protocol the upstream switches to, and nothing in a tunnel passes the
// gate: a lenient upstream answering 101 to "Upgrade: h2c" on a public
// route would take every later request on that connection ungated.
func isWebSocketUpgrade(values []string) bool {
	return len(values) == 1 && strings.EqualFold(strings.Trim(values[0], " \t"), "websocket")
}

// setIdentity removes every client X-Auth-* header and the identity names
// (also spelt with "_": CGI-style servers read X_Auth_Subject as
// X-Auth-Subject), the forward-auth and forwarding headers, then sets the
// identity of the allow (absent values stay absent).
//
// A forward-auth proxy or gate behind the upstream must not read another
// request than the one decided here (X-Forwarded-Host is set again by
// SetXForwarded), nor the upstream another client, scheme or prefix than
// policygate's, in any spelling.
func setIdentity(h http.Header, out *gate.Outcome, stripToken bool) {
	for name := range h {
		if denial.IdentityFamily(name) || gate.HeaderNameIn(name, requestInfoHeaders[:]) || gate.HeaderNameIn(name, forwardingHeaders[:]) {
			delete(h, name)
		}
	}
	if stripToken {
		delete(h, "Authorization")
	}
	if out == nil {
		return
	}
	set, _, err := denial.Identity(*out)
	if err != nil {
		return // refused by the gate's allow check before it gets here
	}
	for _, kv := range set {
		h[kv.Name] = []string{kv.Value}
	}
}

// forwardingHeaders are what upstream frameworks read as the client's
// address, scheme, port, path prefix or request URI when they trust the
// proxy in front of them (Spring, ASP.NET, Rails, Werkzeug, Symfony, chi's
// RealIP...). Only policygate may say those things: a client's copies, in
// any spelling, never reach the upstream. SetXForwarded then sets
// X-Forwarded-For, X-Forwarded-Host and X-Forwarded-Proto afresh;
// ReverseProxy removes only their canonical spellings and Forwarded.
var forwardingHeaders = [...]string{
	"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Port", "X-Forwarded-Prefix",
	"X-Forwarded-Ssl", "X-Forwarded-Server", "X-Forwarded-Scheme", "X-Forwarded-Protocol",
	"X-Forwarded-By", "X-Forwarded-Path", "X-Forwarded", "Forwarded-For",
	"X-Real-Ip", "True-Client-Ip", "X-Client-Ip", "Client-Ip", "X-Cluster-Client-Ip",
	"Cf-Connecting-Ip", "Fastly-Client-Ip", "X-Original-Forwarded-For",
	"X-Rewrite-Url", "X-Scheme", "X-Url-Scheme", "Front-End-Https",
}

// copyBuffers lends ReverseProxy its 32 KiB body-copy buffers, which it
// would otherwise allocate for every request.
type copyBuffers struct{}

var copyBufferPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (copyBuffers) Get() []byte  { return *copyBufferPool.Get().(*[]byte) }
func (copyBuffers) Put(b []byte) { copyBufferPool.Put(&b) }
