# METADATA
# description: Table-driven tests of data.system.log.mask, the decision-log mask.
package system.log_test

import data.system.log

_claims := {
	"iss": "https://tenant.example.com/",
	"sub": "auth0|user-1",
	"aud": ["https://api", "https://tenant.example.com/userinfo"],
	"exp": 1700000000,
	"scope": "openid read:messages",
	"permissions": ["read:messages"],
	"email": "alice@example.com",
	"https://example.com/ssn": "078-05-1120",
}

_redacted_claims := object.union(_claims, {
	"email": "**REDACTED**",
	"https://example.com/ssn": "**REDACTED**",
})

_upsert(value) := {{"op": "upsert", "path": "/input/claims", "value": value}}

cases := {
	"personal_and_custom_claims_redacted": {
		"event": {"input": {"method": "GET", "path": ["api"], "claims": _claims}},
		"data": {},
		"want": _upsert(_redacted_claims),
	},
	"only_logged_claims_nothing_to_mask": {
		"event": {"input": {"claims": {"sub": "auth0|user-1", "scope": "read:messages"}}},
		"data": {},
		"want": set(),
	},
	"sensitive_overrides_logged": {
		"event": {"input": {"claims": {"sub": "alice@example.com", "iss": "https://idp/"}}},
		"data": {"sensitive_claims": ["sub"]},
		"want": _upsert({"sub": "**REDACTED**", "iss": "https://idp/"}),
	},
	"author_logs_a_custom_claim": {
		"event": {"input": {"claims": {"sub": "u", "https://example.com/tenant": "acme"}}},
		"data": {"logged_claims": ["sub", "https://example.com/tenant"]},
		"want": set(),
	},
	"no_list_redacts_everything": {
		"event": {"input": {"claims": {"sub": "u", "iss": "i"}}},
		"data": {"logged_claims": null},
		"want": _upsert({"sub": "**REDACTED**", "iss": "**REDACTED**"}),
	},
	"anonymous_request": {
		"event": {"input": {"method": "GET", "path": ["api", "public"]}},
		"data": {},
		"want": set(),
	},
	"bound_claims_masked_like_claims": {
		"event": {"input": {
			"claims": {"sub": "u", "email": "alice@example.com"},
			"bound": {"claims": {"sub": "u", "email": "alice@example.com"}, "params": {"/users/{id}": {"id": "u"}}},
		}},
		"data": {},
		"want": {
			{"op": "upsert", "path": "/input/claims", "value": {"sub": "u", "email": "**REDACTED**"}},
			{"op": "upsert", "path": "/input/bound/claims", "value": {"sub": "u", "email": "**REDACTED**"}},
		},
	},
	"bound_sensitive_claim_masked": {
		"event": {"input": {"claims": {"sub": "u"}, "bound": {"claims": {"sub": "u"}}}},
		"data": {"sensitive_claims": ["sub"]},
		"want": {
			{"op": "upsert", "path": "/input/claims", "value": {"sub": "**REDACTED**"}},
			{"op": "upsert", "path": "/input/bound/claims", "value": {"sub": "**REDACTED**"}},
		},
	},
	"bound_logged_claims_nothing_to_mask": {
		"event": {"input": {"claims": {"sub": "u"}, "bound": {"claims": {"sub": "u"}, "params": {}}}},
		"data": {},
		"want": set(),
	},
	"result_headers_withheld": {
		"event": {
			"input": {"claims": {"sub": "u"}},
			"result": {"allowed": true, "headers": {"X-Auth-Email": "alice@example.com", "X-Auth-Tenant": "acme"}},
		},
		"data": {},
		"want": {{"op": "upsert", "path": "/result/headers", "value": {"X-Auth-Email": "**REDACTED**", "X-Auth-Tenant": "**REDACTED**"}}},
	},
	"no_result_headers_nothing_to_mask": {
		"event": {"input": {"claims": {"sub": "u"}}, "result": {"allowed": true, "headers": {}}},
		"data": {},
		"want": set(),
	},
	"bound_claims_not_an_object_withheld": {
		"event": {"input": {"bound": {"claims": "alice@example.com"}}},
		"data": {},
		"want": {{"op": "upsert", "path": "/input/bound/claims", "value": "**REDACTED**"}},
	},
	"result_headers_not_an_object_withheld": {
		"event": {"input": {}, "result": {"headers": "X-Auth-Email: alice@example.com"}},
		"data": {},
		"want": {{"op": "upsert", "path": "/result/headers", "value": "**REDACTED**"}},
	},
	"claims_not_an_object_withheld": {
		"event": {"input": {"claims": "alice@example.com"}},
		"data": {},
		"want": _upsert("**REDACTED**"),
	},
}

# Each case's data overrides the shipped data.system.log keys it names.
test_mask[name] if {
	some name, tc in cases
	shipped := {k: v | some k in ["logged_claims", "sensitive_claims"]; v := data.system.log[k]}
	overrides := object.union(shipped, tc.data)
	got := log.mask with input as tc.event
		with data.system.log.logged_claims as overrides.logged_claims
		with data.system.log.sensitive_claims as overrides.sensitive_claims
	got == tc.want
}

test_shipped_data_logs_no_personal_claim if {
	every claim in ["email", "name", "given_name", "family_name", "nickname", "phone_number", "address", "birthdate", "picture"] {
		not claim in data.system.log.logged_claims
	}
}
