# METADATA
# description: Table-driven tests of data.authz.decision.
package authz_test

import data.authz

_claims := {"sub": "auth0|user-1", "iss": "https://tenant.example.com/"}

_deny_no_route := {
	"allowed": false,
	"reason": "no_route",
	"required_scopes": [],
	"missing_scopes": [],
	"routes": [],
}

# Cases against the shipped route table (data.json).
shipped_cases := {
	"public_anonymous": {
		"input": {"method": "GET", "path": ["api", "public"]},
		"want": {
			"allowed": true, "reason": "public",
			"required_scopes": [], "missing_scopes": [],
			"routes": ["/api/public"],
		},
	},
	"public_with_claims": {
		"input": {"method": "GET", "path": ["api", "public"], "authenticated": true, "claims": _claims, "scopes": ["read:messages"]},
		"want": {
			"allowed": true, "reason": "public",
			"required_scopes": [], "missing_scopes": [],
			"routes": ["/api/public"],
		},
	},
	"private_anonymous": {
		"input": {"method": "GET", "path": ["api", "private"]},
		"want": {
			"allowed": false, "reason": "unauthenticated",
			"required_scopes": [], "missing_scopes": [],
			"routes": ["/api/private"],
		},
	},
	"private_scopes_without_claims": {
		"input": {"method": "GET", "path": ["api", "private"], "scopes": ["read:messages"]},
		"want": {
			"allowed": false, "reason": "unauthenticated",
			"required_scopes": [], "missing_scopes": [],
			"routes": ["/api/private"],
		},
	},
	# Only Go's flag authenticates: claims alone, or a flag that is not
	# exactly true, do not.
	"private_claims_without_flag": {
		"input": {"method": "GET", "path": ["api", "private"], "claims": _claims, "scopes": []},
		"want": {
			"allowed": false, "reason": "unauthenticated",
			"required_scopes": [], "missing_scopes": [],
			"routes": ["/api/private"],
		},
	},
	"private_flag_not_true": {
		"input": {"method": "GET", "path": ["api", "private"], "authenticated": "true", "claims": _claims, "scopes": []},
		"want": {
			"allowed": false, "reason": "unauthenticated",
			"required_scopes": [], "missing_scopes": [],
			"routes": ["/api/private"],
		},
	},
	"private_authenticated": {
		"input": {"method": "GET", "path": ["api", "private"], "authenticated": true, "claims": _claims, "scopes": []},
		"want": {
			"allowed": true, "reason": "authenticated",
			"required_scopes": [], "missing_scopes": [],
			"routes": ["/api/private"],
		},
	},
	"private_authenticated_empty_claims": {
		"input": {"method": "GET", "path": ["api", "private"], "authenticated": true, "claims": {}},
		"want": {
			"allowed": true, "reason": "authenticated",
			"required_scopes": [], "missing_scopes": [],
			"routes": ["/api/private"],
		},
	},
	"private_scoped_anonymous": {
		"input": {"method": "GET", "path": ["api", "private-scoped"]},
		"want": {
			"allowed": false, "reason": "unauthenticated",
			"required_scopes": ["read:messages"], "missing_scopes": ["read:messages"],
			"routes": ["/api/private-scoped"],
		},
	},
	"private_scoped_scopes_unauthenticated": {
		"input": {"method": "GET", "path": ["api", "private-scoped"], "authenticated": false, "scopes": ["read:messages"]},
		"want": {
			"allowed": false, "reason": "unauthenticated",
			"required_scopes": ["read:messages"], "missing_scopes": ["read:messages"],
			"routes": ["/api/private-scoped"],
		},
	},
	"private_scoped_scopes_without_claims": {
		"input": {"method": "GET", "path": ["api", "private-scoped"], "scopes": ["read:messages"]},
		"want": {
			"allowed": false, "reason": "unauthenticated",
			"required_scopes": ["read:messages"], "missing_scopes": ["read:messages"],
			"routes": ["/api/private-scoped"],
		},
	},
	"private_scoped_no_scopes": {
		"input": {"method": "GET", "path": ["api", "private-scoped"], "authenticated": true, "claims": _claims, "scopes": []},
		"want": {
			"allowed": false, "reason": "insufficient_scope",
			"required_scopes": ["read:messages"], "missing_scopes": ["read:messages"],
			"routes": ["/api/private-scoped"],
		},
	},
	"private_scoped_scopes_absent": {
		"input": {"method": "GET", "path": ["api", "private-scoped"], "authenticated": true, "claims": _claims},
		"want": {
			"allowed": false, "reason": "insufficient_scope",
			"required_scopes": ["read:messages"], "missing_scopes": ["read:messages"],
			"routes": ["/api/private-scoped"],
		},
	},
	# The policy trusts only input.scopes, which Go builds; raw claims grant nothing.
	"private_scoped_scope_claim_not_granted": {
		"input": {
			"method": "GET", "path": ["api", "private-scoped"],
			"authenticated": true,
			"claims": object.union(_claims, {"scope": "read:messages", "permissions": ["read:messages"]}),
			"scopes": ["write:messages"],
		},
		"want": {
			"allowed": false, "reason": "insufficient_scope",
			"required_scopes": ["read:messages"], "missing_scopes": ["read:messages"],
			"routes": ["/api/private-scoped"],
		},
	},
	"private_scoped_case_sensitive": {
		"input": {"method": "GET", "path": ["api", "private-scoped"], "authenticated": true, "claims": _claims, "scopes": ["Read:messages", "READ:MESSAGES"]},
		"want": {
			"allowed": false, "reason": "insufficient_scope",
			"required_scopes": ["read:messages"], "missing_scopes": ["read:messages"],
			"routes": ["/api/private-scoped"],
		},
	},
	"private_scoped_whole_word_only": {
		"input": {
			"method": "GET", "path": ["api", "private-scoped"], "authenticated": true, "claims": _claims,
			"scopes": ["read:messages:all", "read", "read:message", " read:messages", "read:messages write:messages"],
		},
		"want": {
			"allowed": false, "reason": "insufficient_scope",
			"required_scopes": ["read:messages"], "missing_scopes": ["read:messages"],
			"routes": ["/api/private-scoped"],
		},
	},
	"private_scoped_granted": {
		"input": {"method": "GET", "path": ["api", "private-scoped"], "authenticated": true, "claims": _claims, "scopes": ["read:messages"]},
		"want": {
			"allowed": true, "reason": "scopes_granted",
			"required_scopes": ["read:messages"], "missing_scopes": [],
			"routes": ["/api/private-scoped"],
		},
	},
	"private_scoped_granted_among_others": {
		"input": {"method": "GET", "path": ["api", "private-scoped"], "authenticated": true, "claims": _claims, "scopes": ["openid", "read:messages", "write:messages"]},
		"want": {
			"allowed": true, "reason": "scopes_granted",
			"required_scopes": ["read:messages"], "missing_scopes": [],
			"routes": ["/api/private-scoped"],
		},
	},
	"unknown_route": {
		"input": {"method": "GET", "path": ["api", "unknown"], "authenticated": true, "claims": _claims, "scopes": ["read:messages"]},
		"want": _deny_no_route,
	},
	"root": {
		"input": {"method": "GET", "path": []},
		"want": _deny_no_route,
	},
	"prefix_of_route": {
		"input": {"method": "GET", "path": ["api"]},
		"want": _deny_no_route,
	},
	"below_route": {
		"input": {"method": "GET", "path": ["api", "public", "x"]},
		"want": _deny_no_route,
	},
	"path_case_sensitive": {
		"input": {"method": "GET", "path": ["API", "public"]},
		"want": _deny_no_route,
	},
	"wrong_method": {
		"input": {"method": "POST", "path": ["api", "public"]},
		"want": _deny_no_route,
	},
	"wrong_method_authenticated": {
		"input": {"method": "DELETE", "path": ["api", "private-scoped"], "authenticated": true, "claims": _claims, "scopes": ["read:messages"]},
		"want": _deny_no_route,
	},
	"method_case_sensitive": {
		"input": {"method": "get", "path": ["api", "public"]},
		"want": _deny_no_route,
	},
	"method_missing": {
		"input": {"path": ["api", "public"]},
		"want": _deny_no_route,
	},
	# Segments must not smuggle a "/" past the literal lookup.
	"segment_with_slash": {
		"input": {"method": "GET", "path": ["api/public"]},
		"want": _deny_no_route,
	},
	"empty_segment": {
		"input": {"method": "GET", "path": ["api", "", "public"]},
		"want": _deny_no_route,
	},
	"dot_segments": {
		"input": {"method": "GET", "path": ["api", "x", "..", "public"]},
		"want": _deny_no_route,
	},
	"non_string_segment": {
		"input": {"method": "GET", "path": ["api", 1]},
		"want": _deny_no_route,
	},
	"path_as_string": {
		"input": {"method": "GET", "path": "/api/public"},
		"want": _deny_no_route,
	},
	"empty_input": {
		"input": {},
		"want": _deny_no_route,
	},
}

test_shipped_routes[name] if {
	some name, tc in shipped_cases
	authz.decision == tc.want with input as tc.input
}

test_decision_without_input if {
	authz.decision == _deny_no_route
}

# A new route needs a rule the policy accepts: every shipped route answers a
# request for its own path (a pattern's own text matches it literally) with
# something other than no_route or invalid_rule.
test_every_shipped_rule_is_usable if {
	every key, methods in data.authz.routes {
		every method, _ in methods {
			_usable(key, method)
		}
	}
}

_usable(key, method) if {
	got := authz.decision with input as {
		"method": method,
		"path": [segment | some segment in split(key, "/"); segment != ""],
		"authenticated": true, "claims": _claims,
	}
	not got.reason in {"no_route", "invalid_rule"}
	key in got.routes
}

# A route table exercising patterns, "*" methods and overlapping rules.
_pattern_routes := {
	"/users/{id}": {"GET": {"access": "authenticated"}},
	"/users/{id}/messages/{message}": {"GET": {"access": "authenticated", "scopes": ["read:messages"]}},
	"/files/*": {"GET": {"access": "public"}},
	"/files/secret/*": {"GET": {"access": "authenticated", "scopes": ["read:secrets"]}},
	"/admin/*": {
		"*": {"access": "authenticated", "scopes": ["admin"]},
		"DELETE": {"access": "authenticated", "scopes": ["admin:delete"]},
	},
	"/admin/users": {"GET": {"access": "authenticated", "scopes": ["read:users"]}},
	"/health": {"*": {"access": "public"}},
	"/public-but-scoped": {"GET": {"access": "public", "scopes": ["read:messages"]}},
	"/a/*/b": {"GET": {"access": "public"}},
	"/*": {"OPTIONS": {"access": "public"}},
	"no-leading-slash/{id}": {"GET": {"access": "public"}},
	"/half/{open/close}": {"GET": {"access": "public"}},
}

pattern_cases := {
	"placeholder_matches_one_segment": {
		"input": {"method": "GET", "path": ["users", "42"], "authenticated": true, "claims": _claims},
		"want": {
			"allowed": true, "reason": "authenticated",
			"required_scopes": [], "missing_scopes": [],
			"routes": ["/users/{id}"],
		},
	},
	"placeholder_anonymous": {
		"input": {"method": "GET", "path": ["users", "42"]},
		"want": {
			"allowed": false, "reason": "unauthenticated",
			"required_scopes": [], "missing_scopes": [],
			"routes": ["/users/{id}"],
		},
	},
	"placeholder_needs_a_segment": {
		"input": {"method": "GET", "path": ["users"], "authenticated": true, "claims": _claims},
		"want": _deny_no_route,
	},
	"placeholder_not_more_segments": {
		"input": {"method": "GET", "path": ["users", "42", "extra"], "authenticated": true, "claims": _claims},
		"want": _deny_no_route,
	},
	"placeholder_literal_segment": {
		"input": {"method": "GET", "path": ["users", "{id}"], "authenticated": true, "claims": _claims},
		"want": {
			"allowed": true, "reason": "authenticated",
			"required_scopes": [], "missing_scopes": [],
			"routes": ["/users/{id}"],
		},
	},
	"two_placeholders_granted": {
		"input": {"method": "GET", "path": ["users", "42", "messages", "7"], "authenticated": true, "claims": _claims, "scopes": ["read:messages"]},
		"want": {
			"allowed": true, "reason": "scopes_granted",
			"required_scopes": ["read:messages"], "missing_scopes": [],
			"routes": ["/users/{id}/messages/{message}"],
		},
	},
	"two_placeholders_literal_mismatch": {
		"input": {"method": "GET", "path": ["users", "42", "letters", "7"], "authenticated": true, "claims": _claims, "scopes": ["read:messages"]},
		"want": _deny_no_route,
	},
	"wildcard_one_segment": {
		"input": {"method": "GET", "path": ["files", "a.txt"]},
		"want": {
			"allowed": true, "reason": "public",
			"required_scopes": [], "missing_scopes": [],
			"routes": ["/files/*"],
		},
	},
	"wildcard_many_segments": {
		"input": {"method": "GET", "path": ["files", "a", "b", "c.txt"]},
		"want": {
			"allowed": true, "reason": "public",
			"required_scopes": [], "missing_scopes": [],
			"routes": ["/files/*"],
		},
	},
	"wildcard_needs_a_segment": {
		"input": {"method": "GET", "path": ["files"]},
		"want": _deny_no_route,
	},
	"wildcard_prefix_mismatch": {
		"input": {"method": "GET", "path": ["filesx", "a.txt"]},
		"want": _deny_no_route,
	},
	"most_restrictive_wins_anonymous": {
		"input": {"method": "GET", "path": ["files", "secret", "plan.txt"]},
		"want": {
			"allowed": false, "reason": "unauthenticated",
			"required_scopes": ["read:secrets"], "missing_scopes": ["read:secrets"],
			"routes": ["/files/*", "/files/secret/*"],
		},
	},
	"most_restrictive_wins_granted": {
		"input": {"method": "GET", "path": ["files", "secret", "plan.txt"], "authenticated": true, "claims": _claims, "scopes": ["read:secrets"]},
		"want": {
			"allowed": true, "reason": "scopes_granted",
			"required_scopes": ["read:secrets"], "missing_scopes": [],
			"routes": ["/files/*", "/files/secret/*"],
		},
	},
	"any_method_rule": {
		"input": {"method": "POST", "path": ["health"]},
		"want": {
			"allowed": true, "reason": "public",
			"required_scopes": [], "missing_scopes": [],
			"routes": ["/health"],
		},
	},
	"any_method_rule_on_pattern": {
		"input": {"method": "PUT", "path": ["admin", "settings"], "authenticated": true, "claims": _claims, "scopes": ["admin"]},
		"want": {
			"allowed": true, "reason": "scopes_granted",
			"required_scopes": ["admin"], "missing_scopes": [],
			"routes": ["/admin/*"],
		},
	},
	"any_method_and_specific_method_union": {
		"input": {"method": "DELETE", "path": ["admin", "settings"], "authenticated": true, "claims": _claims, "scopes": ["admin"]},
		"want": {
			"allowed": false, "reason": "insufficient_scope",
			"required_scopes": ["admin", "admin:delete"], "missing_scopes": ["admin:delete"],
			"routes": ["/admin/*"],
		},
	},
	"literal_and_pattern_union_missing": {
		"input": {"method": "GET", "path": ["admin", "users"], "authenticated": true, "claims": _claims, "scopes": ["admin"]},
		"want": {
			"allowed": false, "reason": "insufficient_scope",
			"required_scopes": ["admin", "read:users"], "missing_scopes": ["read:users"],
			"routes": ["/admin/*", "/admin/users"],
		},
	},
	"literal_and_pattern_union_anonymous": {
		"input": {"method": "GET", "path": ["admin", "users"]},
		"want": {
			"allowed": false, "reason": "unauthenticated",
			"required_scopes": ["admin", "read:users"], "missing_scopes": ["admin", "read:users"],
			"routes": ["/admin/*", "/admin/users"],
		},
	},
	"literal_and_pattern_union_granted": {
		"input": {"method": "GET", "path": ["admin", "users"], "authenticated": true, "claims": _claims, "scopes": ["read:users", "admin"]},
		"want": {
			"allowed": true, "reason": "scopes_granted",
			"required_scopes": ["admin", "read:users"], "missing_scopes": [],
			"routes": ["/admin/*", "/admin/users"],
		},
	},
	# "/admin/users" has no DELETE rule, so only the pattern's rules apply.
	"literal_route_other_method": {
		"input": {"method": "DELETE", "path": ["admin", "users"], "authenticated": true, "claims": _claims, "scopes": ["admin", "admin:delete"]},
		"want": {
			"allowed": true, "reason": "scopes_granted",
			"required_scopes": ["admin", "admin:delete"], "missing_scopes": [],
			"routes": ["/admin/*"],
		},
	},
	"scopes_imply_authentication": {
		"input": {"method": "GET", "path": ["public-but-scoped"]},
		"want": {
			"allowed": false, "reason": "unauthenticated",
			"required_scopes": ["read:messages"], "missing_scopes": ["read:messages"],
			"routes": ["/public-but-scoped"],
		},
	},
	"root_wildcard": {
		"input": {"method": "OPTIONS", "path": ["anything", "at", "all"]},
		"want": {
			"allowed": true, "reason": "public",
			"required_scopes": [], "missing_scopes": [],
			"routes": ["/*"],
		},
	},
	"root_wildcard_not_root": {
		"input": {"method": "OPTIONS", "path": []},
		"want": _deny_no_route,
	},
	"inner_star_is_literal": {
		"input": {"method": "GET", "path": ["a", "x", "b"]},
		"want": _deny_no_route,
	},
	"inner_star_literal_match": {
		"input": {"method": "GET", "path": ["a", "*", "b"]},
		"want": {
			"allowed": true, "reason": "public",
			"required_scopes": [], "missing_scopes": [],
			"routes": ["/a/*/b"],
		},
	},
	"pattern_without_leading_slash_never_matches": {
		"input": {"method": "GET", "path": ["no-leading-slash", "1"]},
		"want": _deny_no_route,
	},
	"unclosed_placeholder_is_literal": {
		"input": {"method": "GET", "path": ["half", "x", "close}"]},
		"want": _deny_no_route,
	},
	"unopened_placeholder_is_literal": {
		"input": {"method": "GET", "path": ["half", "{open", "x"]},
		"want": _deny_no_route,
	},
	"half_placeholders_literal_match": {
		"input": {"method": "GET", "path": ["half", "{open", "close}"]},
		"want": {
			"allowed": true, "reason": "public",
			"required_scopes": [], "missing_scopes": [],
			"routes": ["/half/{open/close}"],
		},
	},
	"placeholder_rejects_dot_dot": {
		"input": {"method": "GET", "path": ["users", ".."], "authenticated": true, "claims": _claims},
		"want": _deny_no_route,
	},
	"wildcard_rejects_dot": {
		"input": {"method": "GET", "path": ["files", ".", "a.txt"]},
		"want": _deny_no_route,
	},
	"wildcard_rejects_empty_segment": {
		"input": {"method": "GET", "path": ["files", "a", ""]},
		"want": _deny_no_route,
	},
	"pattern_rejects_segment_with_slash": {
		"input": {"method": "GET", "path": ["users", "42/messages"], "authenticated": true, "claims": _claims},
		"want": _deny_no_route,
	},
}

test_pattern_routes[name] if {
	some name, tc in pattern_cases
	got := authz.decision with input as tc.input with data.authz.routes as _pattern_routes
	got == tc.want
}

# Each case installs its own table: a broken rule must deny, never be guessed at.
invalid_rule_cases := {
	"unknown_access": {"/x": {"GET": {"access": "anonymous"}}},
	"access_wrong_case": {"/x": {"GET": {"access": "Public"}}},
	"access_missing": {"/x": {"GET": {"scopes": ["read:messages"]}}},
	"scopes_not_an_array": {"/x": {"GET": {"access": "authenticated", "scopes": "read:messages"}}},
	"scopes_an_object": {"/x": {"GET": {"access": "authenticated", "scopes": {"any": "read:messages"}}}},
	"scopes_not_strings": {"/x": {"GET": {"access": "authenticated", "scopes": ["read:messages", 1]}}},
	"misspelt_scopes_key": {"/x": {"GET": {"access": "authenticated", "scope": ["read:messages"]}}},
	"rule_not_an_object": {"/x": {"GET": "public"}},
	"any_method_rule_invalid": {"/x": {
		"GET": {"access": "public"},
		"*": {"access": "nobody"},
	}},
	"pattern_rule_invalid": {
		"/x": {"GET": {"access": "public"}},
		"/{any}": {"GET": {"access": "everyone"}},
	},
}

test_invalid_rules[name] if {
	some name, routes in invalid_rule_cases
	got := authz.decision with input as {"method": "GET", "path": ["x"], "authenticated": true, "claims": _claims, "scopes": ["read:messages"]}
		with data.authz.routes as routes
	got.allowed == false
	got.reason == "invalid_rule"
}

# A broken rule still yields a well-typed decision: scopes are strings only.
test_invalid_rule_decision_is_well_typed if {
	got := authz.decision with input as {"method": "GET", "path": ["x"]}
		with data.authz.routes as {"/x": {"GET": {"access": "authenticated", "scopes": ["read:messages", 1, {"a": 1}]}}}
	got == {
		"allowed": false, "reason": "invalid_rule",
		"required_scopes": ["read:messages"], "missing_scopes": ["read:messages"],
		"routes": ["/x"],
	}
}

# Only the rules that match are checked: a broken rule elsewhere in the table
# does not take the valid routes down with it.
test_invalid_rule_for_other_method_is_ignored if {
	got := authz.decision with input as {"method": "GET", "path": ["x"]}
		with data.authz.routes as {"/x": {"GET": {"access": "public"}, "POST": {"access": "nobody"}}}
	got.allowed == true
	got.reason == "public"
}
