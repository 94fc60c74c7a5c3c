package gate

import "strings"

// scopeDescription names the rule that wants the scopes, in words:
// "GET /api/private-scoped requires scope read:messages". It names the
// matched route keys (the table's patterns, not the request's values) and
// the scopes, which the challenge's scope parameter lists anyway.
func scopeDescription(method string, routes, scopes, anyOf []string) string {
	if len(routes) == 0 || len(scopes)+len(anyOf) == 0 {
		return "the access token lacks a required scope"
	}
	var b strings.Builder
	b.WriteString(method + " " + strings.Join(routes, " and ") + " requires ")
	if len(scopes) > 0 {
		noun := "scope "
		if len(scopes) > 1 {
			noun = "scopes "
		}
		b.WriteString(noun + strings.Join(scopes, " "))
		if len(anyOf) > 0 {
			b.WriteString(" and ")
		}
	}
	if len(anyOf) > 0 {
		b.WriteString("one of the scopes " + strings.Join(anyOf, " "))
	}
	return b.String()
}
