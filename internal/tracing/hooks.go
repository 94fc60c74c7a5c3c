package tracing

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/authz"
)

// Span and attribute names. Values are outcomes and ids, never a token or
// a claim (beyond sub with TRACE_SUBJECT).
const (
	spanVerify   = "policygate.verify"
	spanKeyFetch = "policygate.key_fetch"
	spanDecide   = "policygate.decide"

	attrTokenCacheHit = "policygate.token.cache_hit"
	attrTokenResult   = "policygate.token.result"
	attrSubject       = "enduser.id"
	attrDecisionID    = "policygate.decision.id"
	attrReason        = "policygate.decision.reason"
	attrAllowed       = "policygate.decision.allowed"
	attrDecisionCache = "policygate.decision.cache_hit"
)

// Verifier is what the gate verifies tokens with (gate.Verifier).
type Verifier interface {
	Verify(ctx context.Context, token authn.Token) (*authn.Claims, error)
}

// Decider is what the gate decides with (gate.Decider).
type Decider interface {
	Decide(ctx context.Context, in authz.Input) (authz.Decision, error)
}

// Verifier wraps v: each verification is a span saying whether the token
// cache answered and how it ended, with a child span for a key fetch it
// waits for.
func (t *Tracing) Verifier(v Verifier) Verifier { return &tracedVerifier{t: t, next: v} }

// Decider wraps d: each decision is a span with its id, reason, verdict
// and whether the decision cache answered.
func (t *Tracing) Decider(d Decider) Decider { return &tracedDecider{t: t, next: d} }

type tracedVerifier struct {
	t    *Tracing
	next Verifier
}

func (v *tracedVerifier) Verify(ctx context.Context, token authn.Token) (*authn.Claims, error) {
	ctx, span := v.t.tracer.Start(ctx, spanVerify, trace.WithSpanKind(trace.SpanKindInternal))
	defer span.End()
	obs := &authn.Observer{KeyFetch: func() func(error) {
		_, fetch := v.t.tracer.Start(ctx, spanKeyFetch, trace.WithSpanKind(trace.SpanKindInternal))
		return func(err error) {
			if err != nil {
				fetch.SetStatus(codes.Error, "key set fetch failed")
			}
			fetch.End()
		}
	}}
	claims, err := v.next.Verify(authn.WithObserver(ctx, obs), token)
	span.SetAttributes(attribute.Bool(attrTokenCacheHit, obs.CacheHit), attribute.String(attrTokenResult, tokenResult(err)))
	if err != nil {
		// The description may quote the token's header (a kid): not here.
		span.SetStatus(codes.Error, tokenResult(err))
		return claims, err
	}
	if v.t.subject && claims != nil && claims.Subject != "" {
		span.SetAttributes(attribute.String(attrSubject, claims.Subject))
	}
	return claims, nil
}

func tokenResult(err error) string {
	switch {
	case err == nil:
		return "valid"
	case errors.Is(err, authn.ErrKeysUnavailable):
		return "keys_unavailable"
	case errors.Is(err, authn.ErrMalformedRequest):
		return "invalid_request"
	default:
		return "invalid_token"
	}
}

type tracedDecider struct {
	t    *Tracing
	next Decider
}

func (d *tracedDecider) Decide(ctx context.Context, in authz.Input) (authz.Decision, error) {
	ctx, span := d.t.tracer.Start(ctx, spanDecide, trace.WithSpanKind(trace.SpanKindInternal))
	defer span.End()
	obs := &authz.Observer{}
	dec, err := d.next.Decide(authz.WithObserver(ctx, obs), in)
	span.SetAttributes(attribute.Bool(attrDecisionCache, obs.CacheHit))
	if err != nil {
		// Engine errors can quote policy values: only the fact is kept.
		span.SetStatus(codes.Error, "policy error")
		return dec, err
	}
	span.SetAttributes(
		attribute.String(attrDecisionID, dec.ID),
		attribute.String(attrReason, dec.Reason),
		attribute.Bool(attrAllowed, dec.Allowed),
	)
	return dec, nil
}
