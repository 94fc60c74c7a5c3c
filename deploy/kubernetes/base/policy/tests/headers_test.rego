# METADATA
# description: |
#   Table-driven tests of the default table's own issuers and audiences
#   (data.authz.issuers, data.authz.audiences) and of the headers a policy
#   adds to an allow: a rule's "headers" copies a bound claim into a name
#   declared in data.authz.headers, and custom_headers is the extension
#   point (docs/policy.md shows these examples).
package headers_test

import data.authz

_want(allowed, reason, headers) := {
	"allowed": allowed, "reason": reason,
	"required_scopes": [], "any_scopes": [],
	"missing_scopes": [], "failed_claims": [],
	"headers": headers,
}

_in(route, claims) := {
	"method": "GET", "host": "api.example.com", "routes": [route],
	"authenticated": true, "scopes": [],
	"bound": {"params": {}, "claims": claims},
}

# Several audiences configured: the default table names the one it accepts.
default_table_cases := {
	"audience_accepted": {
		"input": _in("/orders", {"aud": "https://orders.example.com", "iss": "https://a.example.com/"}),
		"want": _want(true, "authenticated", {}),
	},
	"audience_in_list_accepted": {
		"input": _in("/orders", {"aud": ["https://other.example.com", "https://orders.example.com"], "iss": "https://a.example.com/"}),
		"want": _want(true, "authenticated", {}),
	},
	"other_audience_refused": {
		"input": _in("/orders", {"aud": "https://billing.example.com", "iss": "https://a.example.com/"}),
		"want": _want(false, "audience_not_accepted", {}),
	},
	"other_issuer_refused": {
		"input": _in("/orders", {"aud": "https://orders.example.com", "iss": "https://b.example.com/"}),
		"want": _want(false, "issuer_not_accepted", {}),
	},
	"public_needs_no_token": {
		"input": {"method": "GET", "host": "api.example.com", "routes": ["/health"], "authenticated": false, "bound": {"params": {}, "claims": {}}},
		"want": _want(true, "public", {}),
	},
}

test_default_table_conditions[name] if {
	some name, tc in default_table_cases
	got := authz.decision with input as tc.input
		with data.authz.routes as {"/orders": {"GET": {"access": "authenticated"}}, "/health": {"GET": {"access": "public"}}}
		with data.authz.audiences as ["https://orders.example.com"]
		with data.authz.issuers as ["https://a.example.com/"]
	got == tc.want
}

# A host table's conditions replace the default table's, even when it names
# none of its own.
test_host_table_conditions_replace_default if {
	got := authz.decision with input as _in("/x", {"aud": "https://billing.example.com"})
		with data.authz.routes as {"/x": {"GET": {"access": "authenticated"}}}
		with data.authz.audiences as ["https://orders.example.com"]
		with data.authz.hosts as {"api.example.com": {"routes": {"/x": {"GET": {"access": "authenticated"}}}}}
	got == _want(true, "authenticated", {})
}

_header_routes := {
	"/orgs/{org}": {"GET": {"access": "authenticated", "headers": {"X-Auth-Tenant": {"claim": "org_id"}}}},
	"/plan": {"GET": {"access": "public", "headers": {"x-auth-plan": {"claim": "plan"}}}},
	"/scoped": {"GET": {"access": "authenticated", "scopes": ["admin"], "headers": {"X-Auth-Tenant": {"claim": "org_id"}}}},
}

header_cases := {
	"claim_copied": {
		"input": _in("/orgs/{org}", {"org_id": "acme"}),
		"want": _want(true, "authenticated", {"X-Auth-Tenant": "acme"}),
	},
	"missing_claim_sets_nothing": {
		"input": _in("/orgs/{org}", {}),
		"want": _want(true, "authenticated", {}),
	},
	"non_string_claim_sets_nothing": {
		"input": _in("/orgs/{org}", {"org_id": ["acme", "globex"]}),
		"want": _want(true, "authenticated", {}),
	},
	"declared_in_any_case": {
		"input": _in("/plan", {"plan": "gold"}),
		"want": _want(true, "public", {"x-auth-plan": "gold"}),
	},
	"denial_sets_nothing": {
		"input": _in("/scoped", {"org_id": "acme"}),
		"want": {
			"allowed": false, "reason": "insufficient_scope",
			"required_scopes": ["admin"], "any_scopes": [],
			"missing_scopes": ["admin"], "failed_claims": [],
			"headers": {},
		},
	},
}

test_headers[name] if {
	some name, tc in header_cases
	got := authz.decision with input as tc.input
		with data.authz.routes as _header_routes
		with data.authz.headers as ["X-Auth-Tenant", "X-Auth-Plan"]
	got == tc.want
}

# Rules whose headers the policy refuses (and the engine refuses at
# activation).
invalid_header_cases := {
	"not_declared": {"access": "authenticated", "headers": {"X-Auth-Other": {"claim": "org_id"}}},
	"not_object": {"access": "authenticated", "headers": ["X-Auth-Tenant"]},
	"empty": {"access": "authenticated", "headers": {}},
	"spec_not_claim": {"access": "authenticated", "headers": {"X-Auth-Tenant": "org_id"}},
	"claim_not_string": {"access": "authenticated", "headers": {"X-Auth-Tenant": {"claim": 1}}},
	"claim_empty": {"access": "authenticated", "headers": {"X-Auth-Tenant": {"claim": ""}}},
	"extra_key": {"access": "authenticated", "headers": {"X-Auth-Tenant": {"claim": "org_id", "default": "x"}}},
}

test_invalid_header_rules[name] if {
	some name, rule in invalid_header_cases
	got := authz.decision with input as _in("/x", {"org_id": "acme"})
		with data.authz.routes as {"/x": {"GET": rule}}
		with data.authz.headers as ["X-Auth-Tenant", 7]
	got == _want(false, "invalid_rule", {})
}

# The extension point: custom_headers adds to an allow and wins over a
# rule's value; a denial adds nothing.
custom_header_cases := {
	"added": {
		"input": _in("/orgs/{org}", {}),
		"want": _want(true, "authenticated", {"X-Auth-Region": "eu"}),
	},
	"with_rule_headers": {
		"input": _in("/orgs/{org}", {"org_id": "acme"}),
		"want": _want(true, "authenticated", {"X-Auth-Region": "eu", "X-Auth-Tenant": "acme"}),
	},
	"not_on_denial": {
		"input": {"method": "GET", "routes": ["/orgs/{org}"], "authenticated": false, "bound": {"params": {}, "claims": {}}},
		"want": _want(false, "unauthenticated", {}),
	},
}

test_custom_headers[name] if {
	some name, tc in custom_header_cases
	got := authz.decision with input as tc.input
		with data.authz.routes as _header_routes
		with data.authz.headers as ["X-Auth-Tenant", "X-Auth-Region"]
		with data.authz.custom_headers as {"X-Auth-Region": "eu"}
	got == tc.want
}

# custom_headers that is not an object (a set of names, say) denies like a
# malformed custom_denials; false, like no custom_headers, is none.
custom_headers_malformed_cases := {
	"set": {"value": {"X-Auth-Tenant"}, "want": _want(false, "denied_by_policy", {})},
	"array": {"value": ["X-Auth-Tenant"], "want": _want(false, "denied_by_policy", {})},
	"string": {"value": "X-Auth-Tenant", "want": _want(false, "denied_by_policy", {})},
	"true": {"value": true, "want": _want(false, "denied_by_policy", {})},
	"null": {"value": null, "want": _want(false, "denied_by_policy", {})},
	"number": {"value": 1, "want": _want(false, "denied_by_policy", {})},
	"false": {"value": false, "want": _want(true, "authenticated", {"X-Auth-Tenant": "acme"})},
}

test_custom_headers_malformed[name] if {
	some name, tc in custom_headers_malformed_cases
	got := authz.decision with input as _in("/orgs/{org}", {"org_id": "acme"})
		with data.authz.routes as _header_routes
		with data.authz.headers as ["X-Auth-Tenant"]
		with data.authz.custom_headers as tc.value
	got == tc.want
}

test_custom_header_overrides_rule if {
	got := authz.decision with input as _in("/orgs/{org}", {"org_id": "acme"})
		with data.authz.routes as _header_routes
		with data.authz.headers as ["X-Auth-Tenant"]
		with data.authz.custom_headers as {"X-Auth-Tenant": "from-custom"}
	got.headers == {"X-Auth-Tenant": "from-custom"}
}

# Header names compare without case: custom_headers wins over a rule's
# header spelt otherwise, rather than setting the name twice.
test_custom_header_overrides_rule_in_any_case if {
	got := authz.decision with input as _in("/orgs/{org}", {"org_id": "acme"})
		with data.authz.routes as _header_routes
		with data.authz.headers as ["X-Auth-Tenant"]
		with data.authz.custom_headers as {"x-auth-tenant": "from-custom"}
	got.headers == {"x-auth-tenant": "from-custom"}
}
