# METADATA
# description: |
#   Table-driven tests of data.authz.decision. The engine matches routes;
#   these tests give the policy what it would: input.routes (the matching
#   keys), input.params and input.bound.
package authz_test

import data.authz

_claims := {"sub": "auth0|user-1", "iss": "https://tenant.example.com/"}

_deny_no_route := {
	"allowed": false,
	"reason": "no_route",
	"required_scopes": [],
	"any_scopes": [],
	"missing_scopes": [],
	"failed_claims": [],
	"headers": {},
}

_allow(reason, required) := {
	"allowed": true, "reason": reason,
	"required_scopes": required, "any_scopes": [],
	"missing_scopes": [], "failed_claims": [],
	"headers": {},
}

_deny(reason, required, missing) := {
	"allowed": false, "reason": reason,
	"required_scopes": required, "any_scopes": [],
	"missing_scopes": missing, "failed_claims": [],
	"headers": {},
}

_public := ["/api/public"]

_private := ["/api/private"]

_scoped := ["/api/private-scoped"]

# Cases against the shipped route table (data.json).
shipped_cases := {
	"public_anonymous": {
		"input": {"method": "GET", "routes": _public},
		"want": _allow("public", []),
	},
	"public_with_claims": {
		"input": {"method": "GET", "routes": _public, "authenticated": true, "claims": _claims, "scopes": ["read:messages"]},
		"want": _allow("public", []),
	},
	"public_head": {
		"input": {"method": "HEAD", "routes": _public},
		"want": _allow("public", []),
	},
	"private_anonymous": {
		"input": {"method": "GET", "routes": _private},
		"want": _deny("unauthenticated", [], []),
	},
	"private_scopes_without_claims": {
		"input": {"method": "GET", "routes": _private, "scopes": ["read:messages"]},
		"want": _deny("unauthenticated", [], []),
	},
	# Only Go's flag authenticates: claims alone, or a flag that is not
	# exactly true, do not.
	"private_claims_without_flag": {
		"input": {"method": "GET", "routes": _private, "claims": _claims, "scopes": []},
		"want": _deny("unauthenticated", [], []),
	},
	"private_flag_not_true": {
		"input": {"method": "GET", "routes": _private, "authenticated": "true", "claims": _claims, "scopes": []},
		"want": _deny("unauthenticated", [], []),
	},
	"private_authenticated": {
		"input": {"method": "GET", "routes": _private, "authenticated": true, "claims": _claims, "scopes": []},
		"want": _allow("authenticated", []),
	},
	"private_authenticated_empty_claims": {
		"input": {"method": "GET", "routes": _private, "authenticated": true, "claims": {}},
		"want": _allow("authenticated", []),
	},
	"private_scoped_anonymous": {
		"input": {"method": "GET", "routes": _scoped},
		"want": _deny("unauthenticated", ["read:messages"], ["read:messages"]),
	},
	"private_scoped_scopes_unauthenticated": {
		"input": {"method": "GET", "routes": _scoped, "authenticated": false, "scopes": ["read:messages"]},
		"want": _deny("unauthenticated", ["read:messages"], ["read:messages"]),
	},
	"private_scoped_no_scopes": {
		"input": {"method": "GET", "routes": _scoped, "authenticated": true, "claims": _claims, "scopes": []},
		"want": _deny("insufficient_scope", ["read:messages"], ["read:messages"]),
	},
	"private_scoped_scopes_absent": {
		"input": {"method": "GET", "routes": _scoped, "authenticated": true, "claims": _claims},
		"want": _deny("insufficient_scope", ["read:messages"], ["read:messages"]),
	},
	# The policy trusts only input.scopes, which Go builds; raw claims grant nothing.
	"private_scoped_scope_claim_not_granted": {
		"input": {
			"method": "GET", "routes": _scoped,
			"authenticated": true,
			"claims": object.union(_claims, {"scope": "read:messages", "permissions": ["read:messages"]}),
			"scopes": ["write:messages"],
		},
		"want": _deny("insufficient_scope", ["read:messages"], ["read:messages"]),
	},
	"private_scoped_case_sensitive": {
		"input": {"method": "GET", "routes": _scoped, "authenticated": true, "claims": _claims, "scopes": ["Read:messages", "READ:MESSAGES"]},
		"want": _deny("insufficient_scope", ["read:messages"], ["read:messages"]),
	},
	"private_scoped_whole_word_only": {
		"input": {
			"method": "GET", "routes": _scoped, "authenticated": true, "claims": _claims,
			"scopes": ["read:messages:all", "read", "read:message", " read:messages", "read:messages write:messages"],
		},
		"want": _deny("insufficient_scope", ["read:messages"], ["read:messages"]),
	},
	"private_scoped_granted": {
		"input": {"method": "GET", "routes": _scoped, "authenticated": true, "claims": _claims, "scopes": ["read:messages"]},
		"want": _allow("scopes_granted", ["read:messages"]),
	},
	"private_scoped_granted_among_others": {
		"input": {"method": "GET", "routes": _scoped, "authenticated": true, "claims": _claims, "scopes": ["openid", "read:messages", "write:messages"]},
		"want": _allow("scopes_granted", ["read:messages"]),
	},
	"no_matching_route": {
		"input": {"method": "GET", "routes": [], "authenticated": true, "claims": _claims, "scopes": ["read:messages"]},
		"want": _deny_no_route,
	},
	# A key the engine passed but whose table has no rule for the method
	# (the engine would not pass it): still no rule, so no route.
	"key_without_rule_for_method": {
		"input": {"method": "POST", "routes": _public},
		"want": _deny_no_route,
	},
	"unknown_key": {
		"input": {"method": "GET", "routes": ["/api/unknown"]},
		"want": _deny_no_route,
	},
	"method_case_sensitive": {
		"input": {"method": "get", "routes": _public},
		"want": _deny_no_route,
	},
	"method_missing": {
		"input": {"routes": _public},
		"want": _deny_no_route,
	},
	"routes_missing": {
		"input": {"method": "GET", "path": ["api", "public"]},
		"want": _deny_no_route,
	},
	"routes_as_string": {
		"input": {"method": "GET", "routes": "/api/public"},
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

# A new route needs a rule the policy accepts: every shipped rule, given
# its own key, answers with something other than no_route or invalid_rule.
test_every_shipped_rule_is_usable if {
	every key, methods in data.authz.routes {
		every method, _ in methods {
			_usable(key, method)
		}
	}
}

_usable(key, method) if {
	got := authz.decision with input as {"method": method, "routes": [key], "authenticated": true, "claims": _claims}
	not got.reason in {"no_route", "invalid_rule"}
}

# A table with "*" methods and overlapping keys: the rules of every
# matching key apply together.
_table_routes := {
	"/users/{id}": {"GET": {"access": "authenticated"}},
	"/files/*": {"GET": {"access": "public"}},
	"/files/secret/*": {"GET": {"access": "authenticated", "scopes": ["read:secrets"]}},
	"/admin/*": {
		"*": {"access": "authenticated", "scopes": ["admin"]},
		"DELETE": {"access": "authenticated", "scopes": ["admin:delete"]},
	},
	"/admin/users": {"GET": {"access": "authenticated", "scopes": ["read:users"]}},
	"/health": {"*": {"access": "public"}},
	"/public-but-scoped": {"GET": {"access": "public", "scopes": ["read:messages"]}},
	"/reports": {
		"GET": {"access": "authenticated", "scopes": ["read:reports"]},
		"HEAD": {"access": "authenticated", "scopes": ["head:reports"]},
	},
}

table_cases := {
	"pattern_key": {
		"input": {"method": "GET", "routes": ["/users/{id}"], "params": {"/users/{id}": {"id": "42"}}, "authenticated": true, "claims": _claims},
		"want": _allow("authenticated", []),
	},
	"pattern_key_anonymous": {
		"input": {"method": "GET", "routes": ["/users/{id}"]},
		"want": _deny("unauthenticated", [], []),
	},
	"most_restrictive_wins_anonymous": {
		"input": {"method": "GET", "routes": ["/files/*", "/files/secret/*"]},
		"want": _deny("unauthenticated", ["read:secrets"], ["read:secrets"]),
	},
	"most_restrictive_wins_granted": {
		"input": {"method": "GET", "routes": ["/files/*", "/files/secret/*"], "authenticated": true, "claims": _claims, "scopes": ["read:secrets"]},
		"want": _allow("scopes_granted", ["read:secrets"]),
	},
	"any_method_rule": {
		"input": {"method": "POST", "routes": ["/health"]},
		"want": _allow("public", []),
	},
	"any_method_rule_on_pattern": {
		"input": {"method": "PUT", "routes": ["/admin/*"], "authenticated": true, "claims": _claims, "scopes": ["admin"]},
		"want": _allow("scopes_granted", ["admin"]),
	},
	"any_method_and_specific_method_union": {
		"input": {"method": "DELETE", "routes": ["/admin/*"], "authenticated": true, "claims": _claims, "scopes": ["admin"]},
		"want": _deny("insufficient_scope", ["admin", "admin:delete"], ["admin:delete"]),
	},
	"literal_and_pattern_union_missing": {
		"input": {"method": "GET", "routes": ["/admin/*", "/admin/users"], "authenticated": true, "claims": _claims, "scopes": ["admin"]},
		"want": _deny("insufficient_scope", ["admin", "read:users"], ["read:users"]),
	},
	"literal_and_pattern_union_anonymous": {
		"input": {"method": "GET", "routes": ["/admin/*", "/admin/users"]},
		"want": _deny("unauthenticated", ["admin", "read:users"], ["admin", "read:users"]),
	},
	"literal_and_pattern_union_granted": {
		"input": {"method": "GET", "routes": ["/admin/*", "/admin/users"], "authenticated": true, "claims": _claims, "scopes": ["read:users", "admin"]},
		"want": _allow("scopes_granted", ["admin", "read:users"]),
	},
	# "/admin/users" has no DELETE rule, so only the pattern's rules apply.
	"literal_route_other_method": {
		"input": {"method": "DELETE", "routes": ["/admin/*", "/admin/users"], "authenticated": true, "claims": _claims, "scopes": ["admin", "admin:delete"]},
		"want": _allow("scopes_granted", ["admin", "admin:delete"]),
	},
	"scopes_imply_authentication": {
		"input": {"method": "GET", "routes": ["/public-but-scoped"]},
		"want": _deny("unauthenticated", ["read:messages"], ["read:messages"]),
	},
	# HEAD is decided by the HEAD, GET and "*" rules together.
	"head_takes_get_and_head_rules": {
		"input": {"method": "HEAD", "routes": ["/reports"], "authenticated": true, "claims": _claims, "scopes": ["read:reports"]},
		"want": _deny("insufficient_scope", ["head:reports", "read:reports"], ["head:reports"]),
	},
	"head_takes_any_method_rule": {
		"input": {"method": "HEAD", "routes": ["/admin/*"], "authenticated": true, "claims": _claims, "scopes": ["admin"]},
		"want": _allow("scopes_granted", ["admin"]),
	},
	"get_ignores_head_rule": {
		"input": {"method": "GET", "routes": ["/reports"], "authenticated": true, "claims": _claims, "scopes": ["read:reports"]},
		"want": _allow("scopes_granted", ["read:reports"]),
	},
}

test_table_routes[name] if {
	some name, tc in table_cases
	got := authz.decision with input as tc.input with data.authz.routes as _table_routes
	got == tc.want
}

# A host with its own table is decided by it alone; other hosts by the
# default table.
_hosts := {"admin.example.com": {"routes": {"/api/public": {"GET": {"access": "authenticated"}}}}}

host_cases := {
	"host_table_replaces_default": {
		"input": {"method": "GET", "host": "admin.example.com", "routes": _public},
		"want": _deny("unauthenticated", [], []),
	},
	"host_table_key_not_in_default": {
		"input": {"method": "GET", "host": "admin.example.com", "routes": _private, "authenticated": true, "claims": _claims},
		"want": _deny_no_route,
	},
	"other_host_uses_default": {
		"input": {"method": "GET", "host": "www.example.com", "routes": _public},
		"want": _allow("public", []),
	},
	"no_host_uses_default": {
		"input": {"method": "GET", "routes": _public},
		"want": _allow("public", []),
	},
}

test_host_tables[name] if {
	some name, tc in host_cases
	got := authz.decision with input as tc.input with data.authz.hosts as _hosts
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
}

test_invalid_rules[name] if {
	some name, routes in invalid_rule_cases
	got := authz.decision with input as {"method": "GET", "routes": ["/x"], "authenticated": true, "claims": _claims, "scopes": ["read:messages"]}
		with data.authz.routes as routes
	got.allowed == false
	got.reason == "invalid_rule"
}

# A broken rule still yields a well-typed decision: scopes are strings only.
test_invalid_rule_decision_is_well_typed if {
	got := authz.decision with input as {"method": "GET", "routes": ["/x"]}
		with data.authz.routes as {"/x": {"GET": {"access": "authenticated", "scopes": ["read:messages", 1, {"a": 1}]}}}
	got == _deny("invalid_rule", ["read:messages"], ["read:messages"])
}

# Only the rules that apply are checked: a broken rule for another method
# does not take the route down with it.
test_invalid_rule_for_other_method_is_ignored if {
	got := authz.decision with input as {"method": "GET", "routes": ["/x"]}
		with data.authz.routes as {"/x": {"GET": {"access": "public"}, "POST": {"access": "nobody"}}}
	got == _allow("public", [])
}
