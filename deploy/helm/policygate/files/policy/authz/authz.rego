# METADATA
# title: policygate authorization
# description: |
#   Decides whether a request may reach a route. The route tables are data
#   (data.json): data.authz.routes, and data.authz.hosts[HOST].routes for a
#   host with its own table; each maps a route key -> HTTP method (or "*")
#   -> rule. The engine matches the request against the table and passes
#   the matching keys (input.routes); this policy looks their rules up by
#   key, stays generic and denies by default. Its one entrypoint is
#   data.authz.decision. The input is described by schemas/input.json.
# schemas:
#   - input: schema.input
package authz

# METADATA
# description: |
#   The decision: an object with allowed, reason, required_scopes and
#   missing_scopes, always defined. Every rule of every matching route
#   that applies to the method must be satisfied; a request no rule
#   applies to gets this default denial, and so does anything the policy
#   cannot evaluate.
# scope: document
# entrypoint: true
default decision := {
	"allowed": false,
	"reason": "no_route",
	"required_scopes": [],
	"missing_scopes": [],
}

# Evaluated on every request, so it is written for OPA's evaluator: one rule
# body with local values rather than many helper documents (each costs a
# lookup, a cache entry and allocations), lookups by key rather than scans.
#
# Go sets authenticated to true exactly when it verified the token, and
# scopes count only alongside it. The policy reads that flag, not the claims
# object, so the engine's decision cache keys on the flag and the scopes, and
# distinct tokens with the same scopes share a decision.
#
# allowed is derived from the reason, so a reason added later denies until
# it is listed here; it never silently becomes another reason.
#
# HEAD is decided by the HEAD, GET and "*" rules together: frameworks run
# the GET handler for HEAD.
decision := {
	"allowed": reason in {"public", "authenticated", "scopes_granted"},
	"reason": reason,
	"required_scopes": sort(required),
	"missing_scopes": sort(missing),
} if {
	table := _table
	methods := {input.method, "*", object.get({"HEAD": "GET"}, input.method, "*")}
	rules := [rule |
		some key in input.routes
		some method in methods
		rule := table[key][method]
	]
	count(rules) > 0
	required := {scope | some rule in rules; some scope in rule.scopes; is_string(scope)}
	granted := {scope | input.authenticated == true; some scope in input.scopes}
	missing := required - granted
	reason := _reason(rules, required, missing)
}

# A host with its own table is decided by it; any other host by the
# default table. The engine matched input.routes in the same table.
_table := table if {
	table := data.authz.hosts[input.host].routes
} else := data.authz.routes

# The order is the precedence: a broken rule, then the most restrictive
# requirement among the matching rules.
_reason(rules, required, missing) := "invalid_rule" if {
	some rule in rules
	not _valid_rule(rule)
} else := "public" if {
	not _authentication_required(rules)
} else := "unauthenticated" if {
	not input.authenticated == true
} else := "insufficient_scope" if {
	count(missing) > 0
} else := "scopes_granted" if {
	count(required) > 0
} else := "authenticated"

_authentication_required(rules) if {
	some rule in rules
	rule.access == "authenticated"
}

# Listing scopes implies authentication, whatever access says.
_authentication_required(rules) if {
	some rule in rules
	is_array(rule.scopes)
}

# A rule is an object with a known access value and, optionally, an array of
# scope names. Anything else, such as a misspelt "scope" key, is rejected
# rather than guessed at (the engine refuses such a table at activation;
# this keeps the policy safe alone). Each head unifies only with an object
# of exactly these keys.
_valid_rule({"access": access}) if access in {"public", "authenticated"}

_valid_rule({"access": access, "scopes": scopes}) if {
	access in {"public", "authenticated"}
	is_array(scopes)
	every scope in scopes {
		is_string(scope)
	}
}
