package gate

import "github.com/policygate/policygate/internal/authz"

// Observer is told of every outcome the gate produces, once: the
// decision metrics live behind it, so the gate stays free of Prometheus
// and no face counts a decision twice or forgets one.
type Observer interface {
	// ObserveDecision receives the result ("allowed", "denied" or
	// "error") and a known reason (the policy's or the gate's), or
	// "other" (ClampReason).
	ObserveDecision(result, reason string)
}

// Reasons the gate gives before or instead of a policy decision.
const (
	ReasonInvalidPath     = "invalid_path"
	ReasonInvalidHost     = "invalid_host"
	ReasonInvalidMethod   = "invalid_method"
	ReasonMethodOverride  = "method_override"
	ReasonRequestInfo     = "invalid_request_info" // missing or ambiguous forwarded request
	ReasonInvalidRequest  = "invalid_request"      // malformed Authorization
	ReasonInvalidToken    = "invalid_token"
	ReasonKeysNotReady    = "keys_not_ready"
	ReasonPolicyNotReady  = "policy_not_ready"
	ReasonPolicyError     = "policy_error"
	ReasonIdentityHeaders = "invalid_identity" // an allow whose identity cannot be sent
	ReasonUntrustedCaller = "untrusted_caller" // forward-auth caller outside TRUSTED_PROXIES
	ReasonOther           = "other"            // a reason not listed here (label clamp)
)

// policyReasons are the reasons the shipped policy returns; a test in
// policies_test proves the Rego returns exactly these.
var policyReasons = authz.Reasons()

var gateReasons = []string{
	ReasonInvalidPath, ReasonInvalidHost, ReasonInvalidMethod, ReasonMethodOverride,
	ReasonRequestInfo, ReasonInvalidRequest, ReasonInvalidToken, ReasonKeysNotReady,
	ReasonPolicyNotReady, ReasonPolicyError, ReasonIdentityHeaders, ReasonUntrustedCaller,
}

var knownReasons = func() map[string]bool {
	m := make(map[string]bool, len(policyReasons)+len(gateReasons))
	for _, r := range append(append([]string(nil), policyReasons...), gateReasons...) {
		m[r] = true
	}
	return m
}()

// ClampReason returns reason when it is known and ReasonOther otherwise: a
// custom policy inventing reasons must not create new metric series.
func ClampReason(reason string) string {
	if knownReasons[reason] {
		return reason
	}
	return ReasonOther
}

func (g *Gate) observe(out Outcome) {
	if g.observer == nil {
		return
	}
	result := "denied"
	switch {
	case out.Kind == Allowed:
		result = "allowed"
	case out.Err != nil:
		result = "error"
	}
	g.observer.ObserveDecision(result, ClampReason(out.Reason))
}

// Refuse is the outcome of a request a face refuses before asking the
// gate (a repeated forwarded header, two header families, an override
// header, an identity that cannot be sent): counted like every other.
func (g *Gate) Refuse(reason, description string) Outcome {
	out := Outcome{Kind: Refused, Reason: reason, Description: description}
	g.observe(out)
	return out
}
