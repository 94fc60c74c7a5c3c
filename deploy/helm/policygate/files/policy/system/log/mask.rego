# METADATA
# title: Decision log masking
# description: |
#   OPA evaluates data.system.log.mask for every decision-log event before
#   writing it (decision_logs.mask_decision defaults to /system/log/mask).
#   Token claims are personal data and may carry secrets, so the log keeps
#   only the claims listed in logged_claims (data.json); every other claim
#   keeps its name but its value becomes "**REDACTED**", and so does any
#   claim listed in sensitive_claims, even when also listed as logged.
#   Without that data, every claim is redacted. The input never holds the
#   raw token nor any header.
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

_redacted_value := "**REDACTED**"

_logged_claims[name] := _logged_value(name, value) if some name, value in input.input.claims

_logged_value(name, _) := _redacted_value if _redacted(name)

_logged_value(name, value) := value if not _redacted(name)

_redacted(name) if not name in _loggable

_redacted(name) if name in _sensitive

_loggable contains name if some name in data.system.log.logged_claims

_sensitive contains name if some name in data.system.log.sensitive_claims
