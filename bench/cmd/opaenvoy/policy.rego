# The peer's policy, written as opa-envoy-plugin users write it: the JWT is
# verified in Rego against the key set held in data, then the scope is
# checked for the route.
package envoy.authz

default allow := false

token := t if {
	v := input.attributes.request.http.headers.authorization
	startswith(v, "Bearer ")
	t := substring(v, 7, -1)
}

claims := payload if {
	[valid, _, payload] := io.jwt.decode_verify(token, {"cert": data.jwks, "iss": data.issuer, "aud": data.audience, "alg": "RS256"})
	valid
}

scopes contains s if some s in split(claims.scope, " ")

required := {"private-scoped": "read:messages"}

allow if {
	input.attributes.request.http.method == "GET"
	count(input.parsed_path) == 2
	input.parsed_path[0] == "api"
	scope := required[input.parsed_path[1]]
	scope in scopes
}

allow if {
	input.attributes.request.http.method == "GET"
	input.parsed_path == ["api", "public"]
}

default status := 403

status := 401 if not claims

result := {"allowed": true, "headers": {"x-auth-subject": claims.sub}} if allow

result := {"allowed": false, "http_status": status} if not allow
