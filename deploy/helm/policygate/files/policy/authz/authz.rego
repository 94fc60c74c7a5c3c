# METADATA
# title: policygate authorization
# description: |
#   Decides whether a request may reach a route. The route tables are data
#   (data.json): data.authz.routes, and data.authz.hosts[HOST].routes for a
#   host with its own table; each maps a route key -> HTTP method (or "*")
#   -> rule. The engine matches the request against the table and passes
#   the matching keys (input.routes); this policy looks their rules up by
#   key, stays generic and denies by default. Its one entrypoint is
#   data.authz.decision. The input is described by schemas/input.json; the
#   rule kinds by docs/policy.md. Conditions read only input.bound (the
#   parameters and claims the applicable rules name), never input.claims,
#   input.params or input.path, so decisions are cached per route and per
#   bound value.
# schemas:
#   - input: schema.input
package authz

# METADATA
# description: |
#   The decision: an object with allowed, reason, required_scopes (all of
#   them needed), any_scopes (one of each rule's list needed),
#   missing_scopes, failed_claims (names only) and headers (the declared
#   headers an allow adds: name -> string), always defined. Every
#   rule of every matching route that applies to the method must be
#   satisfied; a request no rule applies to gets this default denial, and
#   so does anything the policy cannot evaluate.
# scope: document
# entrypoint: true
default decision := {
	"allowed": false,
	"reason": "no_route",
	"required_scopes": [],
	"any_scopes": [],
	"missing_scopes": [],
	"failed_claims": [],
	"headers": {},
}

# Evaluated for every request the decision cache has not seen, so it is
# written for OPA's evaluator, where each helper document, function call
# and comprehension costs allocations: lookups by key rather than scans,
# and the common case first.
#
# The common case: an allowed request to one route whose one rule for the
# method is {"access": "public"}, or {"access": "authenticated"} with or
# without "scopes" (strings, each once), in the default table, with no
# table-wide issuers or audiences and the extension points unused. Three
# short bodies decide it, with two helpers (_lone_rule, _plain_tokens).
# Everything else, denials included, is decided by _general below, which
# gives the same answer for the common case too
# (policies_test/structure/simple_test.rego compares the two).
#
# Go sets authenticated to true exactly when it verified the token, and
# scopes count only alongside it. The policy reads that flag, not the claims
# object, so the engine's decision cache keys on the flag and the scopes, and
# distinct tokens with the same scopes share a decision.
#
# In _general, allowed is derived from the reason, so a reason added later
# denies until it is listed there; it never silently becomes another reason.
#
# HEAD is decided by the HEAD, GET and "*" rules together: frameworks run
# the GET handler for HEAD.
decision := {
	"allowed": true,
	"reason": "scopes_granted",
	"required_scopes": required,
	"any_scopes": [],
	"missing_scopes": [],
	"failed_claims": [],
	"headers": {},
} if {
	{"access": "authenticated", "scopes": scopes} = _lone_rule
	is_array(scopes)
	input.authenticated == true

	# Every scope a string, granted, and listed once (a list with a scope
	# twice is left to the general rules).
	granted := {scope | some scope in scopes; is_string(scope); scope in input.scopes}
	count(granted) == count(scopes)
	required := sort(granted)
	count(required) > 0
	_plain_tokens
} else := {
	"allowed": true,
	"reason": "authenticated",
	"required_scopes": [],
	"any_scopes": [],
	"missing_scopes": [],
	"failed_claims": [],
	"headers": {},
} if {
	_lone_rule == {"access": "authenticated"}
	input.authenticated == true
	_plain_tokens
} else := {
	"allowed": true,
	"reason": "public",
	"required_scopes": [],
	"any_scopes": [],
	"missing_scopes": [],
	"failed_claims": [],
	"headers": {},
} if {
	_lone_rule == {"access": "public"}
	not data.authz.custom_denials
	not data.authz.custom_headers
} else := _general(_matched) if {
	count(_matched) > 0
}

# The rules that apply, as [key, rule] pairs: for every matching route,
# the method's own rule, the "*" rule, and for HEAD the GET rule.
_matched := [[key, rule] |
	table := _table
	methods := {input.method, "*", object.get({"HEAD": "GET"}, input.method, "*")}
	some key in input.routes
	some method in methods
	rule := table[key][method]
]

# The one rule that applies to a request for one route in the default
# table, when only the method's own rule does: no "*" rule (any value,
# false too: the general rules refuse a rule that is not an object), not
# HEAD. The key must be a string, as the engine's are: the store would
# find a number's decimal string where the general rules find nothing.
_lone_rule := methods[input.method] if {
	[key] := input.routes
	is_string(key)
	not data.authz.hosts[input.host]
	methods := data.authz.routes[key]
	not methods["*"] == methods["*"]
	input.method != "HEAD"
}

# Tokens are bound by nothing beyond the rule: no table-wide issuers or
# audiences, and the extension points unused. Issuers or audiences defined
# at all bind (even as false, which the general rules deny on), hence
# "equals itself": that is undefined only for an undefined document.
_plain_tokens if {
	not data.authz.issuers == data.authz.issuers
	not data.authz.audiences == data.authz.audiences
	not data.authz.custom_denials
	not data.authz.custom_headers
}

# _general decides any set of matching rules ([key, rule] pairs).
_general(matched) := {
	"allowed": allowed,
	"reason": reason,
	"required_scopes": sort(required),
	"any_scopes": sort(any_of),
	"missing_scopes": sort(missing),
	"failed_claims": sort(failed),
	"headers": headers,
} if {
	rules := [rule | some [_, rule] in matched]
	granted := {scope | input.authenticated == true; some scope in input.scopes}
	required := {scope | some rule in rules; some scope in rule.scopes; is_string(scope)}
	any_of := {scope | some rule in rules; some scope in rule.any_scopes; is_string(scope)}

	# A rule's any_scopes unmet: the challenge names its whole list.
	unmet := {scope |
		some rule in rules
		not _any_granted(rule.any_scopes, granted)
		some scope in rule.any_scopes
		is_string(scope)
	}
	missing := (required - granted) | unmet
	failed := {name |
		some [key, rule] in matched
		some name, condition in rule.claims
		not _condition_holds(condition, name, key, granted)
	}
	reason := _reason(rules, [required, any_of, missing, failed])
	allowed := reason in {"public", "authenticated", "scopes_granted"}

	# The headers an allow adds (docs/policy.md): each rule's "headers"
	# copies a claim from input.bound (a claim the token lacks, or one
	# that is not a string, sets nothing); then custom_headers, the
	# extension point, wins on the same name, in any case (header names
	# compare without case). Only declared names (data.authz.headers)
	# reach a face: the engine refuses any other.
	custom := {name: value |
		allowed
		some name, value in data.authz.custom_headers
	}
	overridden := {lower(name) | some name, _ in custom; is_string(name)}
	headers := object.union(
		{name: value |
			allowed
			some rule in rules
			some name, spec in rule.headers
			not lower(name) in overridden
			value := input.bound.claims[spec.claim]
			is_string(value)
		},
		custom,
	)
}

# A host with its own table is decided by it; any other host by the
# default table. The engine matched input.routes in the same table. A
# table's own issuers and audiences (a host table's, or data.authz.issuers
# and data.authz.audiences for the default table) bind every token on it.
_host_table := data.authz.hosts[input.host]

_table := _host_table.routes

_table := data.authz.routes if not _host_table

_table_issuers := _host_table.issuers

_table_issuers := data.authz.issuers if not _host_table

_table_audiences := _host_table.audiences

_table_audiences := data.authz.audiences if not _host_table

# The order is the precedence: a broken rule, then the most restrictive
# requirement among the matching rules, then the extension point
# (docs/policy.md): a module of the author's own in package authz defines
# custom_denials, a set of names, and any of them denies what the rules
# would allow. Only then do the allowing reasons come.
_reason(rules, sets) := "invalid_rule" if {
	some rule in rules
	not _valid_rule(rule)
} else := "unauthenticated" if {
	_authentication_required(rules)
	not input.authenticated == true
} else := "issuer_not_accepted" if {
	some rule in rules
	issuers := rule.issuers
	not input.bound.claims.iss in issuers
} else := "issuer_not_accepted" if {
	_authentication_required(rules)
	issuers := _table_issuers
	not input.bound.claims.iss in issuers
} else := "audience_not_accepted" if {
	some rule in rules
	audiences := rule.audiences
	not _any_of(input.bound.claims.aud, audiences)
} else := "audience_not_accepted" if {
	_authentication_required(rules)
	audiences := _table_audiences
	not _any_of(input.bound.claims.aud, audiences)
} else := "insufficient_scope" if {
	count(sets[2]) > 0
} else := "claim_mismatch" if {
	count(sets[3]) > 0
} else := "denied_by_policy" if {
	some _ in data.authz.custom_denials
} else := "denied_by_policy" if {
	_custom_denials_malformed
} else := "denied_by_policy" if {
	_custom_headers_malformed
} else := "public" if {
	not _authentication_required(rules)
} else := "scopes_granted" if {
	count(sets[0]) + count(sets[1]) > 0
} else := "authenticated"

_authentication_required(rules) if {
	some rule in rules
	rule.access == "authenticated"
}

# custom_denials must be a collection of names; any other value (true, a
# string or number, null, say from data or from a rule the compiler cannot
# type) is a mistake, and denies rather than being read as no denial.
# false, like an undefined document, is none.
_custom_denials_malformed if {
	denials := data.authz.custom_denials
	not is_set(denials)
	not is_array(denials)
	not is_object(denials)
	denials != false
}

# custom_headers must be an object of name -> string; any other value (a
# set of names, a string, true, null) is a mistake, and denies rather than
# being read as headers or as none. false, like an undefined document, is
# none.
_custom_headers_malformed if {
	headers := data.authz.custom_headers
	not is_object(headers)
	headers != false
}

# Listing scopes or any condition implies authentication, whatever access
# says.
_authentication_required(rules) if {
	some rule in rules
	some key, _ in rule
	key in {"scopes", "any_scopes", "issuers", "audiences", "claims"}
}

_any_granted(scopes, granted) if {
	some scope in scopes
	scope in granted
}

# value is one of wanted, or an array holding one of them (a claim such as
# aud or a roles list may be either).
_any_of(value, wanted) if value in wanted

_any_of(value, wanted) if {
	is_array(value)
	some v in value
	v in wanted
}

# A claim condition holds when the token has one of its unless_scopes, or
# the claim (from input.bound: a missing claim fails) passes its operator.
_condition_holds(condition, _, _, granted) if {
	some scope in condition.unless_scopes
	scope in granted
}

_condition_holds(condition, name, _, _) if input.bound.claims[name] == condition.equals

_condition_holds(condition, name, _, _) if _any_of(input.bound.claims[name], condition.contains_any)

_condition_holds(condition, name, key, _) if {
	input.bound.claims[name] == input.bound.params[key][condition.equals_param]
}

# A rule is an object with a known access value and known keys of the right
# types; anything else, such as a misspelt "scope" key, is rejected rather
# than guessed at. The engine refuses such a table at activation with the
# same rules (internal/authz/index.go); this keeps the policy safe alone.
# The common shapes come first: an object pattern is cheaper to try than
# the general check.
_valid_rule({"access": "public"})

_valid_rule({"access": "authenticated"})

_valid_rule({"access": "authenticated", "scopes": scopes}) if _strings(scopes)

_valid_rule(rule) if {
	rule.access in {"public", "authenticated"}
	every key, value in rule {
		_valid_field(key, value)
	}
}

_valid_field("access", _)

_valid_field("scopes", value) if _strings(value)

_valid_field(key, value) if {
	key in {"any_scopes", "issuers", "audiences"}
	_strings(value)
	count(value) > 0
}

# Each header copies one claim, and only declared names are set.
_valid_field("headers", headers) if {
	is_object(headers)
	count(headers) > 0
	declared := {lower(name) |
		some name in data.authz.headers
		is_string(name)
	}
	every name, spec in headers {
		lower(name) in declared
		_valid_header(spec)
	}
}

_valid_header({"claim": claim}) if {
	is_string(claim)
	claim != ""
}

_valid_field("claims", conditions) if {
	is_object(conditions)
	every _, condition in conditions {
		_valid_condition(condition)
	}
}

# Exactly one operator, and optionally unless_scopes.
_valid_condition(condition) if {
	is_object(condition)
	count(object.keys(condition) - {"unless_scopes"}) == 1
	every operator, value in condition {
		_valid_operator(operator, value)
	}
}

_valid_operator("equals", _)

_valid_operator("contains_any", value) if {
	is_array(value)
	count(value) > 0
}

_valid_operator("equals_param", value) if is_string(value)

_valid_operator("unless_scopes", value) if {
	_strings(value)
	count(value) > 0
}

_strings(value) if {
	is_array(value)
	every s in value {
		is_string(s)
	}
}
