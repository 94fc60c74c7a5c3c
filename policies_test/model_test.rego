# METADATA
# description: |
#   Table-driven tests of the rule kinds (docs/policy.md shows each with
#   these examples): any_scopes, claim conditions (equals, contains_any,
#   equals_param, unless_scopes), issuers and audiences. Inputs carry what
#   the engine would bind: input.bound holds only the parameters and claims
#   the applicable rules name.
package model_test

import data.authz

_routes := {
	"/reports": {"GET": {"access": "authenticated", "any_scopes": ["read:reports", "admin"]}},
	"/reports/{id}": {"DELETE": {"access": "authenticated", "scopes": ["delete:reports"], "any_scopes": ["owner", "admin"]}},
	"/admin": {"GET": {"access": "authenticated", "claims": {"https://example.com/roles": {"contains_any": ["admin"]}}}},
	"/gold": {"GET": {"access": "authenticated", "claims": {"tier": {"equals": "gold"}}}},
	"/orgs/{org}/invoices": {"GET": {"access": "authenticated", "claims": {"org_id": {"equals_param": "org"}}}},
	"/users/{id}": {"GET": {"access": "authenticated", "claims": {"sub": {"equals_param": "id", "unless_scopes": ["admin:users"]}}}},
	"/partner": {"GET": {"access": "authenticated", "issuers": ["https://partner.example.com/"]}},
	"/billing": {"GET": {"access": "authenticated", "audiences": ["https://billing.example.com"]}},
	"/conditioned-public": {"GET": {"access": "public", "claims": {"tier": {"equals": "gold"}}}},
}

_in(route, bound, scopes) := {
	"method": "GET", "routes": [route], "authenticated": true,
	"scopes": scopes, "bound": bound,
}

_bound(params, claims) := {"params": params, "claims": claims}

_none := _bound({}, {})

_want(allowed, reason, required, any_of, missing, failed) := {
	"allowed": allowed, "reason": reason,
	"required_scopes": required, "any_scopes": any_of,
	"missing_scopes": missing, "failed_claims": failed,
	"headers": {},
}

model_cases := {
	"any_scopes_one_granted": {
		"input": _in("/reports", _none, ["admin"]),
		"want": _want(true, "scopes_granted", [], ["admin", "read:reports"], [], []),
	},
	# The challenge names the whole any-of list: a superset of what is needed.
	"any_scopes_none_granted": {
		"input": _in("/reports", _none, ["write:reports"]),
		"want": _want(false, "insufficient_scope", [], ["admin", "read:reports"], ["admin", "read:reports"], []),
	},
	"any_scopes_anonymous": {
		"input": {"method": "GET", "routes": ["/reports"]},
		"want": _want(false, "unauthenticated", [], ["admin", "read:reports"], ["admin", "read:reports"], []),
	},
	"all_and_any_scopes": {
		"input": {"method": "DELETE", "routes": ["/reports/{id}"], "authenticated": true, "scopes": ["delete:reports", "owner"], "bound": _none},
		"want": _want(true, "scopes_granted", ["delete:reports"], ["admin", "owner"], [], []),
	},
	"all_and_any_scopes_all_missing": {
		"input": {"method": "DELETE", "routes": ["/reports/{id}"], "authenticated": true, "scopes": ["owner"], "bound": _none},
		"want": _want(false, "insufficient_scope", ["delete:reports"], ["admin", "owner"], ["delete:reports"], []),
	},
	"all_and_any_scopes_any_missing": {
		"input": {"method": "DELETE", "routes": ["/reports/{id}"], "authenticated": true, "scopes": ["delete:reports"], "bound": _none},
		"want": _want(false, "insufficient_scope", ["delete:reports"], ["admin", "owner"], ["admin", "owner"], []),
	},
	"contains_any_in_array_claim": {
		"input": _in("/admin", _bound({}, {"https://example.com/roles": ["viewer", "admin"]}), []),
		"want": _want(true, "authenticated", [], [], [], []),
	},
	"contains_any_string_claim": {
		"input": _in("/admin", _bound({}, {"https://example.com/roles": "admin"}), []),
		"want": _want(true, "authenticated", [], [], [], []),
	},
	"contains_any_not_held": {
		"input": _in("/admin", _bound({}, {"https://example.com/roles": ["viewer"]}), []),
		"want": _want(false, "claim_mismatch", [], [], [], ["https://example.com/roles"]),
	},
	"claim_missing_fails": {
		"input": _in("/admin", _none, []),
		"want": _want(false, "claim_mismatch", [], [], [], ["https://example.com/roles"]),
	},
	"equals": {
		"input": _in("/gold", _bound({}, {"tier": "gold"}), []),
		"want": _want(true, "authenticated", [], [], [], []),
	},
	"equals_other_value": {
		"input": _in("/gold", _bound({}, {"tier": "silver"}), []),
		"want": _want(false, "claim_mismatch", [], [], [], ["tier"]),
	},
	"equals_not_contains": {
		"input": _in("/gold", _bound({}, {"tier": ["gold"]}), []),
		"want": _want(false, "claim_mismatch", [], [], [], ["tier"]),
	},
	"tenant_isolation_own_org": {
		"input": _in("/orgs/{org}/invoices", _bound({"/orgs/{org}/invoices": {"org": "acme"}}, {"org_id": "acme"}), []),
		"want": _want(true, "authenticated", [], [], [], []),
	},
	"tenant_isolation_other_org": {
		"input": _in("/orgs/{org}/invoices", _bound({"/orgs/{org}/invoices": {"org": "globex"}}, {"org_id": "acme"}), []),
		"want": _want(false, "claim_mismatch", [], [], [], ["org_id"]),
	},
	"tenant_isolation_param_unbound": {
		"input": _in("/orgs/{org}/invoices", _bound({}, {"org_id": "acme"}), []),
		"want": _want(false, "claim_mismatch", [], [], [], ["org_id"]),
	},
	"own_user": {
		"input": _in("/users/{id}", _bound({"/users/{id}": {"id": "alice"}}, {"sub": "alice"}), []),
		"want": _want(true, "authenticated", [], [], [], []),
	},
	"other_user": {
		"input": _in("/users/{id}", _bound({"/users/{id}": {"id": "bob"}}, {"sub": "alice"}), []),
		"want": _want(false, "claim_mismatch", [], [], [], ["sub"]),
	},
	"other_user_as_admin": {
		"input": _in("/users/{id}", _bound({"/users/{id}": {"id": "bob"}}, {"sub": "alice"}), ["admin:users"]),
		"want": _want(true, "authenticated", [], [], [], []),
	},
	"accepted_issuer": {
		"input": _in("/partner", _bound({}, {"iss": "https://partner.example.com/"}), []),
		"want": _want(true, "authenticated", [], [], [], []),
	},
	"other_issuer": {
		"input": _in("/partner", _bound({}, {"iss": "https://tenant.example.com/"}), []),
		"want": _want(false, "issuer_not_accepted", [], [], [], []),
	},
	"accepted_audience_string": {
		"input": _in("/billing", _bound({}, {"aud": "https://billing.example.com"}), []),
		"want": _want(true, "authenticated", [], [], [], []),
	},
	"accepted_audience_in_list": {
		"input": _in("/billing", _bound({}, {"aud": ["https://api.example.com", "https://billing.example.com"]}), []),
		"want": _want(true, "authenticated", [], [], [], []),
	},
	"other_audience": {
		"input": _in("/billing", _bound({}, {"aud": ["https://api.example.com"]}), []),
		"want": _want(false, "audience_not_accepted", [], [], [], []),
	},
	"condition_implies_authentication": {
		"input": {"method": "GET", "routes": ["/conditioned-public"]},
		"want": _want(false, "unauthenticated", [], [], [], ["tier"]),
	},
}

test_model[name] if {
	some name, tc in model_cases
	got := authz.decision with input as tc.input with data.authz.routes as _routes
	got == tc.want
}

# Rules the policy refuses (and the engine refuses at activation).
invalid_model_cases := {
	"any_scopes_empty": {"access": "authenticated", "any_scopes": []},
	"any_scopes_not_strings": {"access": "authenticated", "any_scopes": [1]},
	"issuers_not_array": {"access": "authenticated", "issuers": "https://a/"},
	"claims_not_object": {"access": "authenticated", "claims": ["sub"]},
	"condition_not_object": {"access": "authenticated", "claims": {"sub": "alice"}},
	"unknown_operator": {"access": "authenticated", "claims": {"sub": {"matches": "a.*"}}},
	"two_operators": {"access": "authenticated", "claims": {"sub": {"equals": "a", "contains_any": ["a"]}}},
	"only_unless": {"access": "authenticated", "claims": {"sub": {"unless_scopes": ["admin"]}}},
	"unless_scopes_empty": {"access": "authenticated", "claims": {"sub": {"equals": "a", "unless_scopes": []}}},
	"contains_any_empty": {"access": "authenticated", "claims": {"roles": {"contains_any": []}}},
	"equals_param_not_string": {"access": "authenticated", "claims": {"sub": {"equals_param": 1}}},
}

test_invalid_model_rules[name] if {
	some name, rule in invalid_model_cases
	got := authz.decision with input as {"method": "GET", "routes": ["/x"], "authenticated": true, "scopes": ["admin"], "bound": _none}
		with data.authz.routes as {"/x": {"GET": rule}}
	got.allowed == false
	got.reason == "invalid_rule"
}

# The extension point: custom_denials turns what the rules allow into
# denied_by_policy, and never touches a denial.
custom_cases := {
	"allowed_becomes_denied": {
		"input": _in("/gold", _bound({}, {"tier": "gold"}), []),
		"denials": {"email_not_verified"},
		"want": _want(false, "denied_by_policy", [], [], [], []),
	},
	"denial_unchanged": {
		"input": {"method": "GET", "routes": ["/gold"]},
		"denials": {"email_not_verified"},
		"want": _want(false, "unauthenticated", [], [], [], ["tier"]),
	},
	"no_denials": {
		"input": _in("/gold", _bound({}, {"tier": "gold"}), []),
		"denials": set(),
		"want": _want(true, "authenticated", [], [], [], []),
	},
	"empty_list": {
		"input": _in("/gold", _bound({}, {"tier": "gold"}), []),
		"denials": [],
		"want": _want(true, "authenticated", [], [], [], []),
	},
	"false_is_none": {
		"input": _in("/gold", _bound({}, {"tier": "gold"}), []),
		"denials": false,
		"want": _want(true, "authenticated", [], [], [], []),
	},
	# Not a collection: a mistake, which denies.
	"true_denies": {
		"input": _in("/gold", _bound({}, {"tier": "gold"}), []),
		"denials": true,
		"want": _want(false, "denied_by_policy", [], [], [], []),
	},
	"string_denies": {
		"input": _in("/gold", _bound({}, {"tier": "gold"}), []),
		"denials": "maintenance",
		"want": _want(false, "denied_by_policy", [], [], [], []),
	},
	"null_denies": {
		"input": _in("/gold", _bound({}, {"tier": "gold"}), []),
		"denials": null,
		"want": _want(false, "denied_by_policy", [], [], [], []),
	},
	"number_denies": {
		"input": _in("/gold", _bound({}, {"tier": "gold"}), []),
		"denials": 0,
		"want": _want(false, "denied_by_policy", [], [], [], []),
	},
}

test_custom_denials[name] if {
	some name, tc in custom_cases
	got := authz.decision with input as tc.input
		with data.authz.routes as _routes
		with data.authz.custom_denials as tc.denials
	got == tc.want
}

# A host table may name the issuers and audiences every token on that host
# must match; public routes there still need no token.
_partner_hosts := {"partner.example.com": {
	"routes": {
		"/data": {"GET": {"access": "authenticated"}},
		"/open": {"GET": {"access": "public"}},
	},
	"issuers": ["https://partner.example.com/"],
	"audiences": ["https://partner-api"],
}}

_partner(route, claims) := {
	"method": "GET", "host": "partner.example.com", "routes": [route],
	"authenticated": true, "scopes": [], "bound": _bound({}, claims),
}

host_condition_cases := {
	"host_token_accepted": {
		"input": _partner("/data", {"iss": "https://partner.example.com/", "aud": ["https://partner-api"]}),
		"want": _want(true, "authenticated", [], [], [], []),
	},
	"host_other_issuer": {
		"input": _partner("/data", {"iss": "https://tenant.example.com/", "aud": "https://partner-api"}),
		"want": _want(false, "issuer_not_accepted", [], [], [], []),
	},
	"host_other_audience": {
		"input": _partner("/data", {"iss": "https://partner.example.com/", "aud": "https://api"}),
		"want": _want(false, "audience_not_accepted", [], [], [], []),
	},
	"host_public_route_anonymous": {
		"input": {"method": "GET", "host": "partner.example.com", "routes": ["/open"]},
		"want": _want(true, "public", [], [], [], []),
	},
}

test_host_conditions[name] if {
	some name, tc in host_condition_cases
	got := authz.decision with input as tc.input with data.authz.hosts as _partner_hosts
	got == tc.want
}
