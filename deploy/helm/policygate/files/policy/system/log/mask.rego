# METADATA
# title: Decision log masking
# description: |
#   OPA evaluates data.system.log.mask for every decision-log event before
#   writing it (decision_logs.mask_decision defaults to /system/log/mask).
#   Token claims are personal data and may carry secrets, so the log keeps
#   only the claims listed in logged_claims (data.json); every other claim
#   keeps its name but its value becomes "**REDACTED**", and so does any
#   claim listed in sensitive_claims, even when also listed as logged.
#   Without that data, every claim is redacted. The same applies to the
#   claims the matching rules bound (input.bound.claims), and the values of
#   the headers an allow sets (result.headers, copied from claims) are
#   redacted whole. The input never holds the raw token nor any request
#   header.
package system.log

# METADATA
# description: Replaces input.claims with a copy whose claims are redacted
#   unless listed as logged (and not listed as sensitive).
# entrypoint: true
mask contains {"op": "upsert", "path": "/input/claims", "value": _logged_claims} if {
	is_object(input.input.claims)
	some name, _ in input.input.claims
	_redacted(name)
}

# Claims are an object by construction; anything else is withheld whole.
mask contains {"op": "upsert", "path": "/input/claims", "value": _redacted_value} if {
	not is_object(input.input.claims)
	input.input.claims
}

# The claims a matching rule names are copied into input.bound.claims:
# they are masked by the same lists.
mask contains {"op": "upsert", "path": "/input/bound/claims", "value": _logged_bound_claims} if {
	is_object(input.input.bound.claims)
	some name, _ in input.input.bound.claims
	_redacted(name)
}

mask contains {"op": "upsert", "path": "/input/bound/claims", "value": _redacted_value} if {
	not is_object(input.input.bound.claims)
	input.input.bound.claims
}

# An allow's headers copy claims (docs/policy.md): their values are
# withheld, their names kept.
mask contains {"op": "upsert", "path": "/result/headers", "value": _redacted_headers} if {
	is_object(input.result.headers)
	count(input.result.headers) > 0
}

mask contains {"op": "upsert", "path": "/result/headers", "value": _redacted_value} if {
	not is_object(input.result.headers)
	input.result.headers
}

_redacted_headers := {name: _redacted_value | some name, _ in input.result.headers}

_redacted_value := "**REDACTED**"

_logged_claims[name] := _logged_value(name, value) if some name, value in input.input.claims

_logged_bound_claims[name] := _logged_value(name, value) if some name, value in input.input.bound.claims

_logged_value(name, _) := _redacted_value if _redacted(name)

_logged_value(name, value) := value if not _redacted(name)

_redacted(name) if not name in _loggable

_redacted(name) if name in _sensitive

_loggable contains name if some name in data.system.log.logged_claims

_sensitive contains name if some name in data.system.log.sensitive_claims
