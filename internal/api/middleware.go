package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/policygate/policygate/internal/gate"
)

// authorize runs the gate for a matched route and answers denials.
func (s *server) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := s.gate.Check(r.Context(), gate.Request{
			Method:        r.Method,
			Path:          r.URL.EscapedPath(),
			Authorization: r.Header.Values("Authorization"),
		})
		if out.DecisionID != "" {
			w.Header().Set("X-Decision-Id", out.DecisionID)
		}
		if info, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok {
			info.outcome = &out
		}
		s.countDecision(out)
		if out.Kind == gate.Allowed {
			next.ServeHTTP(w, r)
			return
		}
		s.writeDenial(w, out)
	})
}

func (s *server) countDecision(out gate.Outcome) {
	result := "denied"
	switch {
	case out.Kind == gate.Allowed:
		result = "allowed"
	case out.Err != nil:
		result = "error"
	}
	s.metrics.decisions.WithLabelValues(result, out.Reason).Inc()
}

type requestInfoKey struct{}

// requestInfo lets the gate middleware hand its outcome to the log line.
type requestInfo struct{ outcome *gate.Outcome }

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	status int
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

// observe logs every request once and counts it by route pattern.
func (s *server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := requestID(r)
		w.Header().Set("X-Request-Id", id)
		info := &requestInfo{}
		ctx := r.Context()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(context.WithValue(ctx, requestInfoKey{}, info)))
		if sw.status == 0 {
			sw.status = http.StatusOK
		}

		route := "unmatched"
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			route = rc.RoutePattern()
		}
		elapsed := time.Since(start)
		s.metrics.requests.WithLabelValues(route, r.Method, strconv.Itoa(sw.status)).Inc()
		s.metrics.duration.WithLabelValues(route).Observe(elapsed.Seconds())

		level := slog.LevelInfo
		if sw.status >= 500 {
			level = slog.LevelError
		}
		if !s.logger.Enabled(ctx, level) {
			return
		}
		attrs := []slog.Attr{
			slog.String("request_id", id),
			slog.String("method", r.Method),
			slog.String("route", route),
			slog.Int("status", sw.status),
			slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
		}
		if out := info.outcome; out != nil {
			if out.Reason != "" {
				attrs = append(attrs, slog.String("reason", out.Reason))
			}
			if out.Subject != "" {
				attrs = append(attrs, slog.String("sub", out.Subject))
			}
			if out.DecisionID != "" {
				attrs = append(attrs, slog.String("decision_id", out.DecisionID))
			}
			if out.Err != nil {
				attrs = append(attrs, slog.String("err", out.Err.Error()))
				level = slog.LevelError
			}
		}
		s.logger.LogAttrs(ctx, level, "request", attrs...)
	})
}

// requestID keeps a sane incoming X-Request-Id, or makes one.
func requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); id != "" && len(id) <= 64 && isPrintable(id) {
		return id
	}
	var b [8]byte
	rand.Read(b[:])
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
