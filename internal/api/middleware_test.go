package api_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/policygate/policygate/internal/api"
	"github.com/policygate/policygate/internal/gate"
)

// failingGate injects an engine failure.
type failingGate struct{}

func (failingGate) Check(context.Context, gate.Request) gate.Outcome {
	return gate.Outcome{Kind: gate.Forbidden, Reason: "policy_error", Description: "the policy could not decide; access denied", Err: errors.New("engine exploded")}
}

func (failingGate) Refuse(reason, description string) gate.Outcome {
	return gate.Outcome{Kind: gate.Refused, Reason: reason, Description: description}
}

func TestPolicyErrorIsLoggedAtErrorLevel(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h := api.NewServer(api.Options{Gate: failingGate{}, Logger: logger})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/private", nil))
	if rec.Code != http.StatusForbidden {
		t.Fatalf("status = %d, want 403", rec.Code)
	}
	for _, want := range []string{`"level":"ERROR"`, `"err":"engine exploded"`, `"reason":"policy_error"`, `"status":403`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log %q lacks %s", logs.String(), want)
		}
	}
}

// A readiness probe answered 503 while starting or draining is a state, not
// a fault: it must not add an error line per probe.
func TestNotReadyIsLoggedAtInfoLevel(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var draining atomic.Bool
	draining.Store(true)
	h := api.NewServer(api.Options{Gate: failingGate{}, Logger: logger, ShuttingDown: &draining})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("GET /readyz while draining = %d, want 503", rec.Code)
	}
	if !strings.Contains(logs.String(), `"level":"INFO"`) || strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Errorf("log %q: want the 503 at INFO, no ERROR", logs.String())
	}
}

func TestMethodLabelIsBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := api.NewServer(api.Options{Gate: failingGate{}, Registry: reg})
	for _, m := range []string{"GET", "BREW", "WHEN", "PROPFIND"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(m, "/nowhere", nil))
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	var series []string
	for line := range strings.Lines(rec.Body.String()) {
		if strings.HasPrefix(line, "policygate_http_requests_total{") {
			series = append(series, strings.TrimSpace(line))
		}
	}
	want := []string{
		`policygate_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`policygate_http_requests_total{method="OTHER",route="unmatched",status="404"} 3`, // no such path, whatever the method
	}
	if strings.Join(series, "\n") != strings.Join(want, "\n") {
		t.Errorf("series:\n%s\nwant:\n%s", strings.Join(series, "\n"), strings.Join(want, "\n"))
	}
}

// TestRequestLogLeavesSubjectOut: the subject is personal data, which the
// decision log masks on the policy's word; the request log line carries
// the decision id that finds it there, never the subject itself.
func TestRequestLogLeavesSubjectOut(t *testing.T) {
	s := newStack(t)
	const subject = "alice@example.com"
	tests := []struct {
		name  string
		token string
	}{
		{name: "denied", token: s.provider.Token(t, map[string]any{"sub": subject})},
		{name: "allowed", token: s.provider.Token(t, map[string]any{"sub": subject, "scope": "read:messages"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			h := api.NewServer(api.Options{Gate: s.gate, Logger: logger})
			req := httptest.NewRequest("GET", "/api/private-scoped", nil)
			req.Header = bearer(tt.token)
			h.ServeHTTP(httptest.NewRecorder(), req)
			if !strings.Contains(logs.String(), `"decision_id":"`) {
				t.Errorf("log %q lacks the decision id", logs.String())
			}
			if strings.Contains(logs.String(), subject) {
				t.Errorf("log %q holds the subject", logs.String())
			}
		})
	}
}

func TestRequestLogLevels(t *testing.T) {
	s := newStack(t)
	tok := s.provider.Token(t, map[string]any{"scope": "read:messages"})
	tests := []struct {
		name    string
		level   slog.Level
		header  http.Header
		wantLog string // "" for no line
	}{
		{"success_at_info_not_logged", slog.LevelInfo, bearer(tok), ""},
		{"success_at_debug_logged", slog.LevelDebug, bearer(tok), `"level":"DEBUG"`},
		{"refusal_at_info_logged", slog.LevelInfo, nil, `"level":"INFO"`},
		{"refusal_at_warn_not_logged", slog.LevelWarn, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: tt.level}))
			h := api.NewServer(api.Options{Gate: s.gate, Logger: logger})
			req := httptest.NewRequest("GET", "/api/private-scoped", nil)
			req.Header = tt.header.Clone()
			if req.Header == nil {
				req.Header = http.Header{}
			}
			h.ServeHTTP(httptest.NewRecorder(), req)
			switch {
			case tt.wantLog == "" && logs.Len() != 0:
				t.Errorf("logged %q, want nothing", logs.String())
			case tt.wantLog != "" && !strings.Contains(logs.String(), tt.wantLog):
				t.Errorf("log %q lacks %s", logs.String(), tt.wantLog)
			}
			if strings.Contains(logs.String(), tok) {
				t.Error("the raw token reached the log")
			}
		})
	}
}
