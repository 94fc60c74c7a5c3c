package extauthz

import (
	"errors"
	"strings"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/policygate/policygate/internal/gate"
)

// refusal is a check the face refuses before asking the gate: the
// information a decision needs is missing or ambiguous.
type refusal struct{ reason, description string }

func (r *refusal) Error() string { return r.description }

var (
	errNoHTTP   = &refusal{gate.ReasonRequestInfo, "the check carries no HTTP request attributes"}
	errNoMethod = &refusal{gate.ReasonRequestInfo, "the request method is missing"}
	errNoPath   = &refusal{gate.ReasonRequestInfo, "the request path is missing"}
	errNoHost   = &refusal{gate.ReasonRequestInfo, "the request host is missing"}
	errFragment = &refusal{gate.ReasonInvalidPath, "the request path holds a fragment"}
	errOverride = &refusal{gate.ReasonMethodOverride, "method override headers are refused"}
)

// toRequest maps the HTTP attributes of a Check to a gate request. What
// the gate checks itself (the method's form, the host's normal form, the
// path rules) is left to it; what only this face can see is refused here.
func toRequest(cr *authv3.CheckRequest) (gate.Request, error) {
	h := cr.GetAttributes().GetRequest().GetHttp()
	switch {
	case h == nil:
		return gate.Request{}, errNoHTTP
	case h.GetMethod() == "":
		return gate.Request{}, errNoMethod
	case h.GetPath() == "":
		return gate.Request{}, errNoPath
	case h.GetHost() == "":
		// Envoy always sends one; without it a host table cannot apply.
		return gate.Request{}, errNoHost
	}
	// path is the raw request target with its query, never decoded.
	path, _, _ := strings.Cut(h.GetPath(), "?")
	if strings.ContainsRune(path, '#') {
		return gate.Request{}, errFragment
	}
	req := gate.Request{Method: h.GetMethod(), Host: h.GetHost(), Path: path}
	override := false
	header := func(name, value string) {
		if strings.EqualFold(name, "authorization") {
			// Envoy joins repeated headers with ",": each part is one
			// credential, and two credentials are a malformed request.
			req.Authorization = append(req.Authorization, strings.Split(value, ",")...)
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
	if override {
		return gate.Request{}, errOverride
	}
	return req, nil
}

// asRefusal returns the refusal in err, if it is one.
func asRefusal(err error) (*refusal, bool) {
	var r *refusal
	ok := errors.As(err, &r)
	return r, ok
}
