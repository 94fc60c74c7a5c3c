// The request log's back-channel: observe wraps every response in a
// statusWriter, and the faces hand it their gate outcome through
// recordOutcome, its one writer.

package api

import (
	"encoding/binary"
	"encoding/hex"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/policygate/policygate/internal/gate"
)

// statusWriter remembers the status code written and, on gated routes, the
// parts of the gate's outcome the log line names. Carrying them here rather
// than in the request context spares every request a context and a Request
// copy; carrying only them, not the whole outcome, keeps the one allocation
// observe makes per request small.
type statusWriter struct {
	http.ResponseWriter
	status int
	logged loggedOutcome
	// requestID backs the X-Request-Id header's value slice.
	requestID [1]string
}

// loggedOutcome is what the request log line takes from a gate outcome.
//
// Not the subject: it is personal data (an e-mail address, often), which
// the decision log masks when the policy says so (sensitive_claims) and
// tracing leaves out unless TRACE_SUBJECT; the decision id finds the
// decision log line that holds it.
type loggedOutcome struct {
	reason, decisionID string
	err                error
}

// recordOutcome hands a face's gate outcome to the request log line (observe).
// Every face that runs the gate calls it once, whatever it answers, so the
// line carries the reason, decision id and error the same way for
// the built-in routes, forward-auth and proxy mode.
func recordOutcome(w http.ResponseWriter, out gate.Outcome) {
	if sw := findStatusWriter(w); sw != nil {
		sw.logged = loggedOutcome{reason: out.Reason, decisionID: out.DecisionID, err: out.Err}
	}
}

// findStatusWriter finds observe's writer under any wrappers added later.
func findStatusWriter(w http.ResponseWriter) *statusWriter {
	for {
		switch x := w.(type) {
		case *statusWriter:
			return x
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return nil
		}
	}
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe counts every request by route pattern and logs it once: a
// success at debug (every decision, allowed ones too, is in the decision
// log when that is on), a refusal at info, a server fault at error. One log
// line per successful request cost a cached request about a sixth of its
// CPU (README "Performance").
func (s *server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		id := requestID(r)
		sw.requestID[0] = id
		w.Header()["X-Request-Id"] = sw.requestID[:]
		ctx := r.Context()
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}

		route := "unmatched"
		if p := chi.RouteContext(r.Context()).RoutePattern(); p != "" { // nil-safe; joins strings, so once
			route = p
		}
		elapsed := time.Since(start)
		s.metrics.request(route, r.Method, sw.status).observe(elapsed.Seconds())

		level := slog.LevelDebug
		switch {
		case sw.logged.err != nil:
			level = slog.LevelError
		case sw.status == http.StatusServiceUnavailable:
			// Not ready (starting, or draining at shutdown, when every
			// readiness probe gets one): a state, not a fault.
			level = slog.LevelInfo
		case sw.status >= 500:
			level = slog.LevelError
		case sw.status >= 400:
			level = slog.LevelInfo
		}
		if !s.logger.Enabled(ctx, level) {
			return
		}
		var buf [8]slog.Attr // on the stack: no slice to allocate per request
		attrs := append(buf[:0],
			slog.String("request_id", id),
			slog.String("method", r.Method),
			slog.String("route", route),
			slog.Int("status", sw.status),
			slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
		)
		out := &sw.logged
		if out.reason != "" {
			attrs = append(attrs, slog.String("reason", out.reason))
		}
		if out.decisionID != "" {
			attrs = append(attrs, slog.String("decision_id", out.decisionID))
		}
		if out.err != nil {
			attrs = append(attrs, slog.String("err", out.err.Error()))
		}
		s.logger.LogAttrs(ctx, level, "request", attrs...)
	})
}

// requestID keeps a sane incoming X-Request-Id, or makes one.
func requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); id != "" && len(id) <= 64 && isPrintable(id) {
		return id
	}
	// A correlation id, not a secret: the runtime's ChaCha8 generator is
	// random enough and needs no system call.
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], rand.Uint64())
	return hex.EncodeToString(b[:])
}

func isPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
