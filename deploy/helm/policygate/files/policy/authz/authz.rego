# METADATA
# title: policygate authorization
# description: |
#   Decides whether a request may reach a route. The route table is data
#   (data.authz.routes, from data.json): path pattern -> HTTP method (or "*")
#   -> rule. This policy stays generic and denies by default; its one
#   entrypoint is data.authz.decision.
package authz

# METADATA
# description: |
#   The decision for input {method, path, authenticated, claims?, scopes?}.
#   Always defined:
#   an object with allowed, reason, required_scopes, missing_scopes and
#   routes. Every rule matching the request must be satisfied; a request no
#   rule matches gets this default denial, and so does anything the policy
#   cannot evaluate.
# scope: document
# entrypoint: true
default decision := {
	"allowed": false,
	"reason": "no_route",
	"required_scopes": [],
	"missing_scopes": [],
	"routes": [],
}

# Evaluated on every request, so it is written for OPA's evaluator: one rule
# body with local values rather than a dozen helper documents (each costs a
# lookup, a cache entry and allocations), lookups by key rather than scans.
decision := {
	"allowed": _allowing[reason],
	"reason": reason,
	"required_scopes": sort(required),
	"missing_scopes": sort(missing),
	"routes": sort({match[0] | some match in matched}),
} if {
	# [route key, rule] of every rule of a matching route that applies to
	# the method: the specific method's rule and the "*" rule both apply.
	matched := [[key, rule] |
		some key in _matching_route_keys
		some method in [input.method, "*"]
		rule := data.authz.routes[key][method]
	]
	count(matched) > 0
	rules := [match[1] | some match in matched]
	required := {scope | some rule in rules; some scope in rule.scopes; is_string(scope)}
	missing := required - _granted_scopes
	reason := _reason(rules, required, missing)
}

_allowing := {
	"public": true, "authenticated": true, "scopes_granted": true,
	"unauthenticated": false, "insufficient_scope": false, "invalid_rule": false,
}

# The order is the precedence: a broken rule, then the most restrictive
# requirement among the matching rules.
_reason(rules, required, missing) := "invalid_rule" if {
	some rule in rules
	not _valid_rule(rule)
} else := "public" if {
	not _authentication_required(rules)
} else := "unauthenticated" if {
	not _authenticated
} else := "insufficient_scope" if {
	count(missing) > 0
} else := "scopes_granted" if {
	count(required) > 0
} else := "authenticated"

# Go sets authenticated to true exactly when it verified the token. The
# policy reads that flag, not the claims object, so the engine's decision
# cache keys on the flag and the scopes and distinct tokens with the same
# scopes share a decision.
_authenticated if input.authenticated == true

# Scopes count only alongside verified claims.
_granted_scopes contains scope if {
	_authenticated
	some scope in input.scopes
}

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
# rather than guessed at. Each head unifies only with an object of exactly
# these keys.
_valid_rule({"access": access}) if _access[access]

_valid_rule({"access": access, "scopes": scopes}) if {
	_access[access]
	is_array(scopes)
	every scope in scopes {
		is_string(scope)
	}
}

_access := {"public", "authenticated"}

# The common case: an indexed lookup of the literal path.
_matching_route_keys contains _request_path if data.authz.routes[_request_path]

# Only pattern keys need a scan; one regex per key tells them apart.
_matching_route_keys contains key if {
	_well_formed_path
	some key, _ in data.authz.routes
	regex.match(`[{]|/[*]$`, key)
	_segments_match(_pattern_segments(key))
}

_request_path := concat("/", array.concat([""], input.path)) if _well_formed_path

# Segments are unescaped, so "/api%2Fprivate" arrives as ["api/private"]:
# joined, it must not reach "/api/private", nor may "." or ".." fill a
# pattern. Go rejects such paths too; this keeps the policy safe alone.
_well_formed_path if {
	is_array(input.path)
	every segment in input.path {
		is_string(segment)
		not segment in {"", ".", ".."}
		not contains(segment, "/")
	}
}

# "/users/{id}" -> ["users", "{id}"]; keys must start with "/".
_pattern_segments(key) := array.slice(parts, 1, count(parts)) if {
	startswith(key, "/")
	parts := split(key, "/")
}

_segments_match(segments) if {
	count(segments) == count(input.path)
	every i, segment in segments {
		_segment_matches(segment, input.path[i])
	}
}

# A final "*" matches one or more remaining segments.
_segments_match(segments) if {
	last := count(segments) - 1
	segments[last] == "*"
	count(input.path) > last
	every i, segment in array.slice(segments, 0, last) {
		_segment_matches(segment, input.path[i])
	}
}

_segment_matches(literal, segment) if literal == segment

# "{name}" matches exactly one segment, whatever it holds.
_segment_matches(placeholder, _) if {
	startswith(placeholder, "{")
	endswith(placeholder, "}")
}
