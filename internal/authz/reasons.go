package authz

// The reasons the shipped policy gives (data.authz.decision.reason). A test
// in policies_test proves this set equals the set the Rego can return.
const (
	ReasonPublic            = "public"                // allowed: no rule requires a token
	ReasonAuthenticated     = "authenticated"         // allowed: a verified token suffices
	ReasonScopesGranted     = "scopes_granted"        // allowed: every required scope granted
	ReasonUnauthenticated   = "unauthenticated"       // denied: a token is required
	ReasonIssuerRefused     = "issuer_not_accepted"   // denied: a rule names other issuers
	ReasonAudienceRefused   = "audience_not_accepted" // denied: a rule names other audiences
	ReasonInsufficientScope = "insufficient_scope"    // denied: a required scope is missing
	ReasonClaimMismatch     = "claim_mismatch"        // denied: a claim condition failed (FailedClaims)
	ReasonDeniedByPolicy    = "denied_by_policy"      // denied: a custom rule (custom_denials) refused
	ReasonNoRoute           = "no_route"              // denied: no rule applies to the request
	ReasonInvalidRule       = "invalid_rule"          // denied: a rule that applies is malformed
)

// Reasons lists every reason of the shipped policy, for callers that clamp
// a metric label or map a reason to a status.
func Reasons() []string {
	return []string{
		ReasonPublic, ReasonAuthenticated, ReasonScopesGranted,
		ReasonUnauthenticated, ReasonIssuerRefused, ReasonAudienceRefused,
		ReasonInsufficientScope, ReasonClaimMismatch, ReasonDeniedByPolicy, ReasonNoRoute, ReasonInvalidRule,
	}
}
