# METADATA
# description: |
#   The policy decides the common case (an allowed request whose one rule
#   is {"access": "public"} or {"access": "authenticated"} with or without
#   "scopes") in a short first branch, and everything else with the general
#   rules. These tests hold the two to the same answers: every case is
#   decided by the policy and by its general rules alone, over rules of the
#   common shapes and of shapes close to them, inputs in many states, and
#   the data that must send a request past the first branch. (A number as
#   a route key against a stored key of its decimal string needs stored
#   data, which `with` cannot give: TestFirstBranchNumberKey in
#   firstbranch_test.go covers it.)
#
#   This folder holds tests of how the policy is built rather than of what
#   it allows. `opa test policies policies_test` and `go test` run them;
#   the Kubernetes and Helm manifests ship only the top of policies_test/,
#   so a deployed server's POLICY_TESTS_MUST_PASS run does not pay for
#   them (about a second per activation).
package simple_test

import data.authz

_rules := {
	"public": {"access": "public"},
	"authenticated": {"access": "authenticated"},
	"scoped": {"access": "authenticated", "scopes": ["read:messages"]},
	"scoped_two": {"access": "authenticated", "scopes": ["write:messages", "read:messages"]},
	"scoped_twice": {"access": "authenticated", "scopes": ["read:messages", "read:messages"]},
	"scoped_empty": {"access": "authenticated", "scopes": []},
	"scoped_string": {"access": "authenticated", "scopes": "read:messages"},
	"scoped_object": {"access": "authenticated", "scopes": {"s": "read:messages"}},
	"scoped_number": {"access": "authenticated", "scopes": [1]},
	"public_scoped": {"access": "public", "scopes": ["read:messages"]},
	"public_scopes_empty": {"access": "public", "scopes": []},
	"misspelt_key": {"access": "authenticated", "scope": ["read:messages"]},
	"unknown_access": {"access": "anyone"},
	"any_scopes": {"access": "authenticated", "any_scopes": ["read:messages"]},
}

_common_rules := {name: _rules[name] | some name in {"public", "authenticated", "scoped", "scoped_number"}}

_token := {"iss": "https://tenant.example.com/", "aud": "https://api"}

_inputs := {
	"anonymous": {"method": "GET", "host": "", "routes": ["/r"]},
	"no_host": {"method": "GET", "routes": ["/r"], "authenticated": true, "scopes": ["read:messages"]},
	"no_scopes": {"method": "GET", "host": "", "routes": ["/r"], "authenticated": true, "scopes": []},
	"scopes_absent": {"method": "GET", "host": "", "routes": ["/r"], "authenticated": true},
	"granted": {"method": "GET", "host": "", "routes": ["/r"], "authenticated": true, "scopes": ["read:messages"]},
	"granted_all": {"method": "GET", "host": "", "routes": ["/r"], "authenticated": true, "scopes": ["write:messages", "read:messages"]},
	"scopes_unauthenticated": {"method": "GET", "host": "", "routes": ["/r"], "authenticated": false, "scopes": ["read:messages"]},
	"odd_scopes": {"method": "GET", "host": "", "routes": ["/r"], "authenticated": true, "scopes": [1, "read:messages"]},
	"flag_not_true": {"method": "GET", "host": "", "routes": ["/r"], "authenticated": "true", "scopes": ["read:messages"]},
	"head": {"method": "HEAD", "host": "", "routes": ["/r"], "authenticated": true, "scopes": ["read:messages"]},
	"other_method": {"method": "POST", "host": "", "routes": ["/r"], "authenticated": true, "scopes": ["read:messages"]},
	"two_routes": {"method": "GET", "host": "", "routes": ["/r", "/s"], "authenticated": true, "scopes": ["read:messages"]},
	"no_route": {"method": "GET", "host": "", "routes": [], "authenticated": true, "scopes": ["read:messages"]},
	"number_route": {"method": "GET", "host": "", "routes": [0], "authenticated": true, "scopes": ["read:messages"]},
	"host_table": {"method": "GET", "host": "h.example", "routes": ["/r"], "authenticated": true, "scopes": ["read:messages"]},
}

# The inputs that tell the common shapes' outcomes apart, for the tests
# that vary the table or the data rather than the input.
_core_inputs := {name: _inputs[name] | some name in {"anonymous", "no_scopes", "granted", "head", "host_table"}}

# Both answers for one input and route table: the policy's, and the
# general rules' alone.
_both(req, routes) := [shipped, general] if {
	shipped := _decide(req, routes, false)
	general := _decide(req, routes, true)
}

# What the general rules decide, the first branch left out: with no
# matching rule, the default denial.
_general := authz._general(authz._matched) if {
	count(authz._matched) > 0
} else := {
	"allowed": false,
	"reason": "no_route",
	"required_scopes": [],
	"any_scopes": [],
	"missing_scopes": [],
	"failed_claims": [],
	"headers": {},
}

_case(req) := object.union(req, {"bound": {"params": {}, "claims": _token}})

test_first_branch_agrees[name] if {
	some rule_name, rule in _rules
	some input_name, req in _inputs
	name := concat("/", [rule_name, input_name])
	[shipped, general] := _both(_case(req), {"/r": {"GET": rule}, "/s": {"GET": {"access": "public"}}})
	shipped == general
}

# A "*" rule, and for HEAD the GET rule, apply beside the method's own.
test_other_rules_agree[name] if {
	some rule_name, rule in _common_rules
	some input_name, req in _core_inputs
	some table_name, routes in {
		"star": {"/r": {"GET": rule, "HEAD": rule, "*": {"access": "authenticated"}}},
		"star_false": {"/r": {"GET": rule, "*": false}},
		"star_null": {"/r": {"GET": rule, "*": null}},
		"head_and_get": {"/r": {"HEAD": rule, "GET": {"access": "authenticated", "scopes": ["admin"]}}},
	}
	name := concat("/", [rule_name, input_name, table_name])
	[shipped, general] := _both(_case(req), routes)
	shipped == general
}

# The data that sends a request past the first branch: table-wide
# issuers or audiences, a host table, the extension points.
test_table_data_agrees[name] if {
	some rule_name, rule in _common_rules
	some input_name, req in _core_inputs
	some data_name in {"issuers", "audiences", "issuers_false", "audiences_false", "custom_headers", "custom_denials", "custom_denials_false", "hosts"}
	name := concat("/", [rule_name, input_name, data_name])
	req_case := _case(req)
	routes := {"/r": {"GET": rule}}
	shipped := _with_data(data_name, req_case, routes, false)
	general := _with_data(data_name, req_case, routes, true)
	shipped == general
}

_with_data("issuers", req, routes, general) := d if {
	d := _decide(req, routes, general) with data.authz.issuers as ["https://other.example/"]
}

_with_data("audiences", req, routes, general) := d if {
	d := _decide(req, routes, general) with data.authz.audiences as ["https://other-api"]
}

_with_data("issuers_false", req, routes, general) := d if {
	d := _decide(req, routes, general) with data.authz.issuers as false
}

_with_data("audiences_false", req, routes, general) := d if {
	d := _decide(req, routes, general) with data.authz.audiences as false
}

_with_data("custom_denials", req, routes, general) := d if {
	d := _decide(req, routes, general) with data.authz.custom_denials as {"maintenance"}
}

_with_data("custom_denials_false", req, routes, general) := d if {
	d := _decide(req, routes, general) with data.authz.custom_denials as false
}

_with_data("custom_headers", req, routes, general) := d if {
	d := _decide(req, routes, general) with data.authz.custom_headers as {"X-Auth-Region": "eu"}
		with data.authz.headers as ["X-Auth-Region"]
}

_with_data("hosts", req, routes, general) := d if {
	hosts := {"h.example": {"routes": {"/r": {"GET": {"access": "authenticated", "scopes": ["admin"]}}}}}
	d := _decide(req, routes, general) with data.authz.hosts as hosts
}

_decide(req, routes, false) := d if {
	d := authz.decision with input as req with data.authz.routes as routes
}

_decide(req, routes, true) := d if {
	d := _general with input as req with data.authz.routes as routes
}

# A custom denial overrides what the first branch would allow.
test_custom_denial_wins_over_first_branch if {
	req := _case(_inputs.granted)
	got := authz.decision with input as req with data.authz.routes as {"/r": {"GET": _rules.public}}
		with data.authz.custom_denials as {"maintenance"}
	got.reason == "denied_by_policy"
}

# The shipped table's three routes meet the first branch's conditions on
# the route and the data (what the engine's benchmarks measure).
test_first_branch_takes_shipped_routes[route] if {
	some route in ["/api/public", "/api/private", "/api/private-scoped"]
	authz._lone_rule with input as {"method": "GET", "host": "", "routes": [route]}
	authz._plain_tokens
}
