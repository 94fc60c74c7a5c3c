package extauthz

import (
	"errors"
	"strings"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/policygate/policygate/internal/gate"
)

// methodOverrideHeaders are refused wherever a face sees them: a decided
// POST must not become a DELETE upstream (docs/design.md, "Paths, methods
// and hosts").
var methodOverrideHeaders = [...]string{"x-http-method-override", "x-http-method", "x-method-override"}

// toRequest maps the HTTP attributes of a Check to a gate request. A check
// that lacks or garbles what the decision needs is refused (403
// invalid_request), never decided: the error says why, for the client.
func toRequest(cr *authv3.CheckRequest) (gate.Request, error) {
	h := cr.GetAttributes().GetRequest().GetHttp()
	if h == nil {
		return gate.Request{}, errors.New("the check carries no HTTP request attributes")
	}
	method := h.GetMethod()
	switch {
	case method == "":
		return gate.Request{}, errors.New("the request method is missing")
	case !upperToken(method):
		return gate.Request{}, errors.New("the request method is not an upper-case token")
	}
	// path is the raw request target with its query, never decoded.
	target := h.GetPath()
	if target == "" {
		return gate.Request{}, errors.New("the request path is missing")
	}
	path, _, _ := strings.Cut(target, "?")
	if strings.ContainsRune(path, '#') {
		return gate.Request{}, errors.New("the request path holds a fragment")
	}
	host, err := normalizeHost(h.GetHost())
	if err != nil {
		return gate.Request{}, err
	}
	req := gate.Request{Method: method, Host: host, Path: path}
	override := false
	header := func(name, value string) {
		name = strings.ToLower(name)
		switch name {
		case "authorization":
			// Envoy joins repeated headers with ",": each part is one
			// credential, and two credentials are a malformed request.
			req.Authorization = append(req.Authorization, strings.Split(value, ",")...)
		case methodOverrideHeaders[0], methodOverrideHeaders[1], methodOverrideHeaders[2]:
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
		return gate.Request{}, errors.New("method override headers are refused")
	}
	return req, nil
}

// upperToken reports whether m is an HTTP token (RFC 9110 section 5.6.2)
// without lower-case letters.
func upperToken(m string) bool {
	for i := 0; i < len(m); i++ {
		c := m[i]
		switch {
		case 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return m != ""
}

// normalizeHost lower-cases the host and removes its port. Non-ASCII
// hosts and a trailing dot are refused, not mapped: a proxy does not map
// them either, so deciding for the mapped name could decide for a host the
// proxy routes elsewhere.
//
// TODO(faces): use the gate's host rule once it lands, and delete this.
func normalizeHost(h string) (string, error) {
	if h == "" {
		return "", errors.New("the request host is missing")
	}
	name, port := h, ""
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return "", errors.New("the request host is not a valid host")
		}
		name, port = h[:end+1], h[end+1:]
		if inner := name[1 : len(name)-1]; inner == "" || strings.Trim(strings.ToLower(inner), "0123456789abcdef:.") != "" {
			return "", errors.New("the request host is not a valid host")
		}
	} else if i := strings.IndexByte(h, ':'); i >= 0 {
		name, port = h[:i], h[i:]
	}
	if port != "" {
		digits := strings.TrimPrefix(port, ":")
		if digits == port || digits == "" || len(digits) > 5 || strings.Trim(digits, "0123456789") != "" {
			return "", errors.New("the request host has an invalid port")
		}
	}
	if strings.HasPrefix(name, "[") {
		return strings.ToLower(name), nil
	}
	if name == "" || strings.HasSuffix(name, ".") || strings.HasPrefix(name, ".") || strings.Contains(name, "..") {
		return "", errors.New("the request host is not a valid host name (empty label or trailing dot)")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == '_':
		default:
			return "", errors.New("the request host is not an ASCII host name")
		}
	}
	return strings.ToLower(name), nil
}
