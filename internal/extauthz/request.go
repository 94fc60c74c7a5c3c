package extauthz

import (
	"slices"
	"strings"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/policygate/policygate/internal/denial"
	"github.com/policygate/policygate/internal/gate"
)

// refusal is a check the face refuses before asking the gate: the
// information a decision needs is missing or ambiguous.
type refusal struct{ reason, description string }

var (
	refuseNoHTTP   = &refusal{gate.ReasonRequestInfo, "the check carries no HTTP request attributes"}
	refuseNoMethod = &refusal{gate.ReasonRequestInfo, "the request method is missing"}
	refuseNoPath   = &refusal{gate.ReasonRequestInfo, "the request path is missing"}
	refuseNoHost   = &refusal{gate.ReasonRequestInfo, gate.DescribeMissingHost}
	refuseOverride = &refusal{gate.ReasonMethodOverride, gate.DescribeOverrideHeader}
	refuseQuery    = &refusal{gate.ReasonMethodOverride, gate.DescribeOverrideQuery}
)

// toRequest maps the HTTP attributes of a Check to a gate request. What
// the gate checks itself (the method's form, the host's normal form, the
// path rules, a '#' in the path among them) is left to it; what only this
// face can see is refused here, in the HTTP faces' order: a
// method-override header first, then what is missing, then a _method
// query parameter, so one request gets one description on every face.
// A refusal is returned as such, not as an error: matching an error with
// errors.As cost an allocation on every check.
//
// The names of the client's identity headers spelt with "_" are appended
// to *strip (see distinct): an allow removes them upstream.
func toRequest(cr *authv3.CheckRequest, strip *[]string) (gate.Request, *refusal) {
	h := cr.GetAttributes().GetRequest().GetHttp()
	if h == nil {
		return gate.Request{}, refuseNoHTTP
	}
	var req gate.Request
	override := false
	header := func(name, value string) {
		if denial.UnderscoreIdentity(name) {
			*strip = append(*strip, strings.ToLower(name))
		}
		if strings.EqualFold(name, "authorization") {
			req.Authorization = append(req.Authorization, joinedCredentials(value)...)
		} else if gate.IsMethodOverride(name) {
			override = true
		}
	}
	// With encode_raw_headers Envoy sends header_map instead of headers,
	// one entry per header line, duplicates not joined.
	if hm := h.GetHeaderMap(); len(hm.GetHeaders()) > 0 {
		for _, hv := range hm.GetHeaders() {
			v := hv.GetValue()
			if len(hv.GetRawValue()) > 0 {
				v = string(hv.GetRawValue())
			}
			header(hv.GetKey(), v)
		}
	} else {
		for name, value := range h.GetHeaders() {
			header(name, value)
		}
	}
	switch {
	case override:
		return gate.Request{}, refuseOverride
	case h.GetMethod() == "":
		return gate.Request{}, refuseNoMethod
	case h.GetPath() == "":
		return gate.Request{}, refuseNoPath
	case h.GetHost() == "":
		// Envoy always sends one; without it a host table cannot apply.
		return gate.Request{}, refuseNoHost
	}
	// path is the raw request target with its query, never decoded. A
	// fragment stays in the path, where the gate's path rules refuse the
	// raw '#', as they do for the HTTP faces' request targets.
	path, query := gate.SplitTarget(h.GetPath())
	if gate.QueryOverridesMethod(query) {
		return gate.Request{}, refuseQuery
	}
	req.Method, req.Host, req.Path = h.GetMethod(), h.GetHost(), path
	*strip = distinct(*strip)
	return req, nil
}

// distinct sorts names and drops repeats: sorting keeps the work
// O(n log n) for a check that carries thousands of such names (a scan per
// name was quadratic, seconds of CPU for one check of 1 MiB).
//
// The names are the client's identity headers spelt with "_", lower-cased.
// Envoy passes such a header on by default (headers_with_underscores_action:
// ALLOW) and a CGI-style upstream reads x_auth_subject as X-Auth-Subject,
// so an allow removes them; they cannot clash with a name the allow sets,
// which never holds "_".
func distinct(names []string) []string {
	if len(names) < 2 {
		return names
	}
	slices.Sort(names)
	return slices.Compact(names)
}
