package gate

import "strings"

// scopeDescription names the rule that wants the scopes, in words:
// "GET /api/private-scoped requires scope read:messages". It names the
// matched route keys (the table's patterns, not the request's values) and
// the scopes, which the challenge's scope parameter lists anyway.
func scopeDescription(method string, routes, scopes []string) string {
	if len(routes) == 0 || len(scopes) == 0 {
		return "the access token lacks a required scope"
	}
	noun := "scope"
	if len(scopes) > 1 {
		noun = "scopes"
	}
	return method + " " + strings.Join(routes, " and ") + " requires " + noun + " " + strings.Join(scopes, " ")
}
