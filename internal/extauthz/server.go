package extauthz

import (
	"context"
	"errors"
	"log/slog"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/policygate/policygate/internal/denial"
	"github.com/policygate/policygate/internal/gate"
)

// Gate is the pipeline every check goes through (gate.Gate).
type Gate interface {
	Check(ctx context.Context, req gate.Request) gate.Outcome
	// Refuse counts and returns the refusal of a check the face refuses
	// before asking (gate.Gate.Refuse).
	Refuse(reason, description string) gate.Outcome
}

// DefaultMaxDeadline caps how long a check waits when Envoy sends no
// deadline or a longer one (GRPC_MAX_DEADLINE).
const DefaultMaxDeadline = time.Second

// deadlineMargin is how much of the caller's own deadline a check leaves
// for its answer to travel back: a tenth, at most maxDeadlineMargin. Envoy
// then reads a 503 from us rather than its own timeout (status_on_error).
const maxDeadlineMargin = 20 * time.Millisecond

// Server answers Envoy's Check calls.
type Server struct {
	authv3.UnimplementedAuthorizationServer
	gate        Gate
	render      *denial.Renderer
	logger      *slog.Logger
	maxDeadline time.Duration
}

// NewServer returns the Check service over g, rendering denials with r.
// maxDeadline <= 0 means DefaultMaxDeadline; a nil logger logs nothing.
func NewServer(g Gate, r *denial.Renderer, logger *slog.Logger, maxDeadline time.Duration) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if maxDeadline <= 0 {
		maxDeadline = DefaultMaxDeadline
	}
	return &Server{gate: g, render: r, logger: logger, maxDeadline: maxDeadline}
}

// Check implements envoy.service.auth.v3.Authorization. It always answers
// with a CheckResponse (OK or PERMISSION_DENIED), except for a caller
// that went away, which gets the gRPC status of its own context.
func (s *Server) Check(ctx context.Context, cr *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	start := time.Now()
	var strip []string // client identity headers spelt with "_"
	req, r := toRequest(cr, &strip)
	var out gate.Outcome
	if r != nil {
		out = s.gate.Refuse(r.reason, r.description)
	} else {
		out = s.decide(ctx, req)
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		s.logger.Info("check abandoned by the caller", "face", "grpc", "method", req.Method, "path", req.Path)
		return nil, status.Error(codes.Canceled, "the caller cancelled the check")
	}
	resp, httpStatus := s.respond(out, strip)
	s.log(cr.GetAttributes().GetRequest().GetHttp().GetId(), req, out, httpStatus, time.Since(start))
	return resp, nil
}

// decide runs the gate within the check's budget: the caller's deadline
// less a margin, capped by maxDeadline (also when the caller sends none).
// Past it the check is answered as unavailable and the gate's late answer
// is dropped. Work the gate started on behalf of many (a key fetch) is
// detached from this context and finishes anyway.
//
// The gate runs on the handler's own goroutine, with no watchdog: every
// wait in it ends with the context (a key fetch it joins, OPA's
// evaluation), so the check returns at its budget. A goroutine, a channel
// and a select per check cost about 3 µs of CPU (BenchmarkServerCheck).
// What does not watch the context is short and bounded: CPU work (a
// signature, an evaluation) and the store's read lock, which an
// activation holds while it commits.
func (s *Server) decide(ctx context.Context, req gate.Request) gate.Outcome {
	budget := s.maxDeadline
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		left -= min(left/10, maxDeadlineMargin)
		budget = min(budget, left)
	}
	if budget <= 0 {
		return deadlineExceeded()
	}
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	out := s.gate.Check(ctx, req)
	if ctx.Err() != nil {
		// The gate gave up with the context (a key wait cut short) or
		// answered too late: its answer says nothing about the token.
		return deadlineExceeded()
	}
	return out
}

// ReasonDeadline is the reason of a check that ran out of time.
const ReasonDeadline = "deadline_exceeded"

// deadlineExceeded answers a check that ran out of time like keys or
// policy that are not ready: 503 temporarily_unavailable with Retry-After.
// The request may be fine; the gate could not say so in time.
func deadlineExceeded() gate.Outcome {
	return gate.Outcome{Kind: gate.Unavailable, Description: "the authorization check did not finish in time", Reason: ReasonDeadline}
}

// respond maps an outcome to Envoy's answer. An allow whose identity
// cannot be sent as headers becomes a 403: an upstream never sees half an
// identity. An allow also removes strip, the client's identity headers
// spelt with "_"; a denial sends nothing upstream.
func (s *Server) respond(out gate.Outcome, strip []string) (*authv3.CheckResponse, int) {
	if out.Kind == gate.Allowed {
		set, remove, err := denial.Identity(out)
		if err == nil {
			return allow(set, remove, strip, out.DecisionID), 200
		}
		// The gate's allow check (denial.CheckIdentity) normally refuses
		// these first; this keeps the face closed without it.
		s.logger.Error("allowed, but the identity cannot be sent; denied", "face", "grpc", "decision_id", out.DecisionID, "err", err)
		out = gate.Outcome{Kind: gate.Refused, Description: "the identity cannot be sent as headers", Reason: gate.ReasonIdentityHeaders, DecisionID: out.DecisionID, Err: err}
	}
	r := s.render.Render(out)
	return deny(r, out.DecisionID), r.Status
}

// log writes one line per check: successes at debug, refusals at info,
// faults at error. The query is not logged: it may hold a credential.
func (s *Server) log(requestID string, req gate.Request, out gate.Outcome, httpStatus int, elapsed time.Duration) {
	level := slog.LevelDebug
	switch {
	case out.Err != nil:
		level = slog.LevelError
	case out.Kind != gate.Allowed:
		level = slog.LevelInfo
	}
	if !s.logger.Enabled(context.Background(), level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("face", "grpc"), slog.String("method", req.Method), slog.String("host", req.Host),
		slog.String("path", req.Path), slog.Int("status", httpStatus), slog.String("reason", out.Reason),
		slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
	}
	if requestID != "" { // Envoy's x-request-id
		attrs = append(attrs, slog.String("request_id", requestID))
	}
	if out.DecisionID != "" {
		attrs = append(attrs, slog.String("decision_id", out.DecisionID))
	}
	if out.Err != nil {
		attrs = append(attrs, slog.Any("err", out.Err))
	}
	s.logger.LogAttrs(context.Background(), level, "check", attrs...)
}
