package gate

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/authz"
)

// Verifier verifies bearer tokens (authn.Verifier).
type Verifier interface {
	Verify(ctx context.Context, token authn.Token) (*authn.Claims, error)
}

// Decider evaluates the policy (authz.Engine).
type Decider interface {
	Decide(ctx context.Context, in authz.Input) (authz.Decision, error)
}

// Request is what the gate needs to know about one request.
type Request struct {
	Method string
	// Host is the request's host as the face received it (a Host header,
	// :authority, X-Forwarded-Host); Check normalises it (NormalizeHost)
	// and refuses what cannot be normalised. "" when the face has none.
	Host string
	// Path is the escaped request path, e.g. "/api/private-scoped".
	Path string
	// Authorization holds every value of the Authorization header.
	Authorization []string
	// StrictHosts refuses a host without its own table once the policy
	// has any host table (authz.Input.StrictHosts): proxy mode, where the
	// client picks the Host but not the service.
	StrictHosts bool
}

// Kind classifies an outcome; each face maps it to its protocol.
type Kind int

const (
	Allowed           Kind = iota // the policy allowed the request
	Unauthenticated               // credentials are required and none were sent
	InvalidRequest                // malformed credentials or request (invalid_request)
	InvalidToken                  // the token was refused (invalid_token)
	InsufficientScope             // verified, but scopes are missing (insufficient_scope)
	Forbidden                     // the policy denied for another reason
	Unavailable                   // keys or policy not loaded yet; nothing is granted
	Refused                       // the request itself is refused (path, host, method, forwarded headers) before any decision
)

var kindNames = [...]string{"allowed", "unauthenticated", "invalid_request", "invalid_token", "insufficient_scope", "forbidden", "unavailable", "refused"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Outcome is the gate's answer.
type Outcome struct {
	Kind Kind
	// Description is a short client-safe explanation of a denial.
	Description string
	// Scopes are the scopes the route requires (for insufficient_scope).
	Scopes []string
	// Subject is the verified token's "sub", if any.
	Subject string
	// Issuer is the verified token's "iss", if any.
	Issuer string
	// Granted are the verified token's scopes, if any.
	Granted []string
	// Reason is the policy's reason, or the authentication failure.
	Reason string
	// DecisionID identifies the policy decision, when one was made.
	DecisionID string
	// Host is the normalised host the decision used ("" when none).
	Host string
	// Headers are the headers the policy adds to an allow, by canonical
	// name (authz.Decision.Headers); DeclaredHeaders every name the policy
	// declared, which a face removes when this answer does not set it.
	Headers         map[string]string
	DeclaredHeaders []string
	// Err is an internal error (engine failure) for the log; never shown.
	Err error
}

// Gate runs the pipeline.
type Gate struct {
	verifier   Verifier
	decider    Decider
	paths      PathRules
	observer   Observer
	allowCheck func(Outcome) error
}

// Option configures a Gate.
type Option func(*Gate)

// WithPathRules sets the path rules (default: the strict zero value).
func WithPathRules(r PathRules) Option { return func(g *Gate) { g.paths = r } }

// WithObserver counts every outcome (decision metrics).
func WithObserver(o Observer) Option { return func(g *Gate) { g.observer = o } }

// WithAllowCheck runs check on every allow; an error turns the allow into
// a refusal (reason invalid_identity), counted as such: an upstream never
// sees half an identity (denial.CheckIdentity).
func WithAllowCheck(check func(Outcome) error) Option {
	return func(g *Gate) { g.allowCheck = check }
}

// New returns a gate over a verifier and a policy engine.
func New(v Verifier, d Decider, opts ...Option) *Gate {
	g := &Gate{verifier: v, decider: d}
	for _, o := range opts {
		o(g)
	}
	return g
}

// Check authenticates the request's credentials (if any), asks the policy,
// and says whether the request may proceed. It fails closed: any error
// yields a denial. Every outcome is counted once by the observer.
func (g *Gate) Check(ctx context.Context, req Request) Outcome {
	out := g.check(ctx, req)
	if out.Kind == Allowed && g.allowCheck != nil {
		if err := g.allowCheck(out); err != nil {
			out = Outcome{Kind: Refused, Reason: ReasonIdentityHeaders, DecisionID: out.DecisionID,
				Description: "the identity cannot be sent as headers", Err: err}
		}
	}
	g.observe(out)
	return out
}

func (g *Gate) check(ctx context.Context, req Request) Outcome {
	if !ValidMethod(req.Method) {
		return Outcome{Kind: Refused, Description: "the method is not an upper-case token", Reason: ReasonInvalidMethod}
	}
	var host string
	if req.Host != "" {
		h, err := NormalizeHost(req.Host)
		if err != nil {
			return Outcome{Kind: Refused, Description: err.Error(), Reason: ReasonInvalidHost}
		}
		host = h
	}
	path, err := g.paths.Split(req.Path)
	if err != nil {
		return Outcome{Kind: Refused, Description: err.Error(), Reason: ReasonInvalidPath, Host: host}
	}
	var claims *authn.Claims
	token, authErr := authn.ParseAuthorization(req.Authorization)
	if authErr == nil {
		claims, authErr = g.verifier.Verify(ctx, token)
	}
	in := authz.Input{Method: req.Method, Host: host, Path: path, StrictHosts: req.StrictHosts}
	if authErr == nil && claims != nil {
		// The payload is decoded only if the policy reads claims.
		in.ClaimSource, in.Scopes, in.Issuer = claims, claims.Scopes, claims.Issuer
	}
	d, err := g.decider.Decide(ctx, in)
	if err != nil {
		if errors.Is(err, authz.ErrNotReady) {
			return Outcome{Kind: Unavailable, Description: "the policy is not loaded yet", Reason: ReasonPolicyNotReady, Host: host}
		}
		return Outcome{Kind: Forbidden, Description: "the policy could not decide; access denied", Reason: ReasonPolicyError, Err: err, Host: host}
	}
	out := Outcome{Reason: d.Reason, DecisionID: d.ID, Host: host}
	if claims != nil && authErr == nil {
		out.Subject, out.Granted, out.Issuer = claims.Subject, claims.Scopes, claims.Issuer
	}
	if d.Allowed {
		// A public route ignores a bad token: the policy allowed without it.
		out.Kind = Allowed
		out.Headers, out.DeclaredHeaders = d.Headers, d.DeclaredHeaders
		return out
	}
	if authErr != nil && !errors.Is(authErr, authn.ErrNoCredentials) {
		return authFailure(out, authErr)
	}
	switch d.Reason {
	case authz.ReasonUnauthenticated:
		out.Kind, out.Description = Unauthenticated, "an access token is required"
	case authz.ReasonInsufficientScope:
		// RFC 6750's scope lists scopes all needed: the any-of lists make
		// it a superset (docs/policy.md).
		out.Kind, out.Scopes = InsufficientScope, slices.Compact(slices.Sorted(slices.Values(slices.Concat(d.RequiredScopes, d.AnyScopes))))
		out.Description = scopeDescription(req.Method, d.Routes, d.RequiredScopes, d.AnyScopes)
	case authz.ReasonClaimMismatch:
		// Named by claim, never by the value a condition wants.
		out.Kind, out.Description = Forbidden, "the access token's claims do not satisfy the route: "+strings.Join(d.FailedClaims, ", ")
	default:
		out.Kind, out.Description = Forbidden, "access denied by policy"
	}
	return out
}

func authFailure(out Outcome, err error) Outcome {
	out.Description = authn.Description(err)
	switch {
	case errors.Is(err, authn.ErrMalformedRequest):
		out.Kind, out.Reason = InvalidRequest, ReasonInvalidRequest
	case errors.Is(err, authn.ErrKeysUnavailable):
		out.Kind, out.Reason = Unavailable, ReasonKeysNotReady
	default:
		out.Kind, out.Reason = InvalidToken, ReasonInvalidToken
		if out.Description == "" {
			out.Description = "the access token is invalid"
		}
	}
	return out
}
