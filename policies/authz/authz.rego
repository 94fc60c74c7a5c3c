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
#   The decision for input {method, path, claims?, scopes?}. Always defined:
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

decision := {
	"allowed": _reason in {"public", "authenticated", "scopes_granted"},
	"reason": _reason,
	"required_scopes": sort(_required_scopes),
	"missing_scopes": sort(_missing_scopes),
	"routes": sort(_matched_routes),
} if {
	count(_matched_rules) > 0
}

# Consulted only once some rule matched (an empty match would read as
# "public"). The order is the precedence: a broken rule, then the most
# restrictive requirement among the matching rules.
_reason := "invalid_rule" if {
	some matched in _matched_rules
	not _valid_rule(matched.rule)
} else := "public" if {
	not _authentication_required
} else := "unauthenticated" if {
	not _authenticated
} else := "insufficient_scope" if {
	count(_missing_scopes) > 0
} else := "scopes_granted" if {
	count(_required_scopes) > 0
} else := "authenticated"

# Claims are present only when Go verified the token.
_authenticated if is_object(input.claims)

_authentication_required if {
	some matched in _matched_rules
	matched.rule.access == "authenticated"
}

# Listing scopes implies authentication, whatever access says.
_authentication_required if {
	some matched in _matched_rules
	is_array(matched.rule.scopes)
}

_required_scopes contains scope if {
	some matched in _matched_rules
	some scope in matched.rule.scopes
	is_string(scope)
}

# Scopes count only alongside verified claims.
_granted_scopes contains scope if {
	_authenticated
	some scope in input.scopes
}

_missing_scopes := _required_scopes - _granted_scopes

# A rule is an object with a known access value and, optionally, an array of
# scope names. Anything else, such as a misspelt "scope" key, is rejected
# rather than guessed at.
_valid_rule(rule) if {
	rule.access in {"public", "authenticated"}
	count(object.keys(rule) - {"access", "scopes"}) == 0
	scopes := object.get(rule, "scopes", [])
	is_array(scopes)
	every scope in scopes {
		is_string(scope)
	}
}

# Every rule of a matching route that applies to the method: the specific
# method's rule and the "*" rule both apply.
_matched_rules contains {"route": key, "rule": rule} if {
	some key in _matching_route_keys
	some method in {input.method, "*"}
	rule := data.authz.routes[key][method]
}

_matched_routes contains matched.route if some matched in _matched_rules

# The common case: an indexed lookup of the literal path.
_matching_route_keys contains _request_path if data.authz.routes[_request_path]

# Only pattern keys need a scan.
_matching_route_keys contains key if {
	_well_formed_path
	some key, _ in data.authz.routes
	_is_pattern(key)
	_segments_match(_pattern_segments(key))
}

_request_path := concat("", ["/", concat("/", input.path)]) if _well_formed_path

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

_is_pattern(key) if contains(key, "{")

_is_pattern(key) if endswith(key, "/*")

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
