package api

import (
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/policygate/policygate/internal/denial"
	"github.com/policygate/policygate/internal/gate"
)

// DefaultTrustedProxies may call /authz when Options.TrustedProxies is
// empty: loopback only.
var DefaultTrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// The header families of forward-auth (docs/design.md, section 3).
type family int

const (
	familyNone      family = iota
	familyForwarded        // Traefik, Caddy: X-Forwarded-Method/-Uri/-Host
	familyOriginal         // nginx: X-Original-Method/-URI/-URL/-Host
	familyEnvoy            // Envoy's HTTP service: the call's method, the path after /authz, Host
)

// Canonical header names, as net/http keys its map.
const (
	hForwardedMethod = "X-Forwarded-Method"
	hForwardedURI    = "X-Forwarded-Uri"
	hForwardedHost   = "X-Forwarded-Host"
	hOriginalMethod  = "X-Original-Method"
	hOriginalURI     = "X-Original-Uri"
	hOriginalURL     = "X-Original-Url"
	hOriginalHost    = "X-Original-Host"
	hEnvoyRemove     = "X-Envoy-Auth-Headers-To-Remove"
)

// requestInfoHeaders may each appear at most once.
var requestInfoHeaders = [...]string{hForwardedMethod, hForwardedURI, hForwardedHost,
	hOriginalMethod, hOriginalURI, hOriginalURL, hOriginalHost}

const authzPrefix = "/authz"

// forwardAuth answers /authz and /authz/*: it reads the original request
// from exactly one header family, asks the gate, and answers allow with
// exactly 200 and the identity headers, a denial with the error table.
// Only callers in trusted may ask: anyone else could name any URI.
func (s *server) forwardAuth(trusted []netip.Prefix) http.HandlerFunc {
	if len(trusted) == 0 {
		trusted = DefaultTrustedProxies
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if !trustedCaller(r.RemoteAddr, trusted) {
			out := s.gate.Refuse(gate.ReasonUntrustedCaller, "the caller is not a trusted proxy")
			out.Kind = gate.Forbidden
			s.answerForward(w, out, familyNone)
			return
		}
		req, fam, reason, description := forwardedRequest(r)
		if reason != "" {
			s.answerForward(w, s.gate.Refuse(reason, description), fam)
			return
		}
		s.answerForward(w, s.gate.Check(r.Context(), req), fam)
	}
}

// trustedCaller reports whether the peer address is in one of the prefixes;
// an IPv4-mapped IPv6 peer counts as its IPv4 address.
func trustedCaller(remoteAddr string, trusted []netip.Prefix) bool {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	a := ap.Addr().Unmap().WithZone("")
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedRequest reads the original request. A non-empty reason refuses
// it (missing or ambiguous request information) before any evaluation.
func forwardedRequest(r *http.Request) (req gate.Request, fam family, reason, description string) {
	h := r.Header
	if hasMethodOverride(h) {
		return req, familyNone, gate.ReasonMethodOverride, gate.DescribeOverrideHeader
	}
	for _, name := range requestInfoHeaders {
		if len(h[name]) > 1 {
			return req, familyNone, gate.ReasonRequestInfo, name + " is sent more than once"
		}
	}
	if !strings.HasPrefix(r.RequestURI, authzPrefix) {
		return req, familyNone, gate.ReasonRequestInfo, "the request target is not in origin form"
	}
	sub := r.RequestURI[len(authzPrefix):] // raw: never a decoded router parameter
	n := 0
	if h[hForwardedMethod] != nil || h[hForwardedURI] != nil {
		fam, n = familyForwarded, n+1
	}
	if h[hOriginalMethod] != nil || h[hOriginalURI] != nil || h[hOriginalURL] != nil {
		fam, n = familyOriginal, n+1
	}
	if strings.HasPrefix(sub, "/") {
		fam, n = familyEnvoy, n+1
	}
	switch {
	case n > 1:
		return req, familyNone, gate.ReasonRequestInfo, "the request names the original request in more than one header family"
	case n == 0:
		return req, familyNone, gate.ReasonRequestInfo, "no header family names the original request"
	}

	if fam != familyEnvoy {
		for name := range h {
			if denial.UnderscoreIdentity(name) {
				// Traefik and Caddy pass such a header on to the upstream
				// untouched (they replace only the exact names the answer
				// carries), where a CGI-style server reads it as the
				// identity header itself; policygate cannot remove it
				// there, so it refuses the request. Envoy's family gets it
				// removed instead (envoyRemove).
				return req, fam, gate.ReasonRequestInfo, "an identity header spelt with _ is refused"
			}
		}
	}
	var target string
	req.Authorization = h.Values("Authorization")
	switch fam {
	case familyForwarded:
		req.Method, target, req.Host = h.Get(hForwardedMethod), h.Get(hForwardedURI), h.Get(hForwardedHost)
	case familyOriginal:
		req.Method, target, req.Host = h.Get(hOriginalMethod), h.Get(hOriginalURI), h.Get(hOriginalHost)
		if raw := h.Get(hOriginalURL); raw != "" || h[hOriginalURL] != nil {
			host, t, ok := splitAbsoluteURL(raw)
			if !ok {
				return req, fam, gate.ReasonRequestInfo, "X-Original-URL is not an absolute http(s) URL"
			}
			if h[hOriginalURI] != nil && target != t {
				return req, fam, gate.ReasonRequestInfo, "X-Original-URL and X-Original-URI name different requests"
			}
			// ingress-nginx builds X-Original-URL from the client's Host
			// header, while nginx routes an absolute-form request by the
			// host in its request line ($host): sent beside it,
			// X-Original-Host must name the same host.
			if h[hOriginalHost] != nil && !sameHost(host, req.Host) {
				return req, fam, gate.ReasonRequestInfo, "X-Original-URL and X-Original-Host name different hosts"
			}
			target, req.Host = t, host
		}
	case familyEnvoy:
		req.Method, target, req.Host = r.Method, sub, r.Host
	}
	switch {
	case req.Method == "":
		return req, fam, gate.ReasonRequestInfo, "the original method is missing"
	case req.Host == "":
		return req, fam, gate.ReasonRequestInfo, gate.DescribeMissingHost
	case !strings.HasPrefix(target, "/"):
		return req, fam, gate.ReasonRequestInfo, "the original URI is missing or not a path"
	}
	var query string
	req.Path, query = gate.SplitTarget(target)
	if gate.QueryOverridesMethod(query) {
		return req, fam, gate.ReasonMethodOverride, gate.DescribeOverrideQuery
	}
	return req, fam, "", ""
}

// hasMethodOverride reports whether h holds a method-override header, in
// any spelling a CGI-style server reads as one (net/http keeps
// X_HTTP_Method_Override as its own key, so every key is looked at).
func hasMethodOverride(h http.Header) bool {
	for name := range h {
		if gate.IsMethodOverride(name) {
			return true
		}
	}
	return false
}

// splitAbsoluteURL splits "https://host[:port]/path?query" into its host
// and its target ("/path?query"; "/" when the URL has nothing after the
// host). Userinfo and fragments are refused. The host ends at the first
// "/" only: ingress-nginx builds the URL as $scheme://$http_host$request_uri,
// so a "?" or "#" before that "/" came from the client's Host header
// ("Host: api.example.com?" would otherwise turn any path into "/?/path").
func splitAbsoluteURL(raw string) (host, target string, ok bool) {
	rest, found := strings.CutPrefix(raw, "https://")
	if !found {
		if rest, found = strings.CutPrefix(raw, "http://"); !found {
			return "", "", false
		}
	}
	end := strings.IndexByte(rest, '/')
	if end < 0 {
		end = len(rest)
	}
	host, target = rest[:end], rest[end:]
	if host == "" || strings.ContainsAny(host, "@?#") || strings.Contains(target, "#") {
		return "", "", false
	}
	if target == "" {
		target = "/"
	}
	return host, target, true
}

// sameHost reports whether two Host values name the same host in the
// gate's normal form (case and port aside); a malformed one names none.
func sameHost(a, b string) bool {
	na, errA := gate.NormalizeHost(a)
	nb, errB := gate.NormalizeHost(b)
	return errA == nil && errB == nil && na == nb
}

// answerForward answers a forward-auth call: exactly 200 with the identity
// set on an allow (Envoy's HTTP service allows on nothing else), the
// rendered denial otherwise.
func (s *server) answerForward(w http.ResponseWriter, out gate.Outcome, fam family) {
	recordOutcome(w, out)
	h := w.Header()
	if out.Kind != gate.Allowed {
		if out.DecisionID != "" {
			h.Set(denial.HeaderDecisionID, out.DecisionID)
		}
		writeRendered(w, s.render.Render(out))
		return
	}
	set, remove, err := denial.Identity(out)
	if err != nil { // the gate's allow check refuses these first
		out = gate.Outcome{Kind: gate.Refused, Reason: gate.ReasonIdentityHeaders, Description: "the identity cannot be sent as headers"}
		writeRendered(w, s.render.Render(out))
		return
	}
	for _, kv := range set {
		h[kv.Name] = []string{kv.Value}
	}
	if fam == familyEnvoy {
		h[hEnvoyRemove] = []string{envoyRemove(remove, s.declaredSpellings(out.DeclaredHeaders))}
	}
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

// underscoreIdentity is every spelling with "_" of the four identity
// names, lower-case and comma-separated (x_auth_subject, x-auth_subject,
// x_auth-subject, ...).
var underscoreIdentity = func() string {
	var names []string
	for _, n := range denial.IdentityNames() {
		names = denial.AppendUnderscoreSpellings(names, n)
	}
	return strings.Join(names, ",")
}()

// envoyRemove is the x-envoy-auth-headers-to-remove of an allow for
// Envoy's HTTP service: the identity names without a value, then every
// spelling with "_" of the identity names and of the declared names
// (declared, from declaredSpellings), lower-case. Envoy passes client
// names with "_" by default and a CGI-style upstream reads x_auth_subject
// as X-Auth-Subject; this face never sees the client's headers, so it
// lists every such spelling (for declared names of many "-",
// denial.AppendUnderscoreSpellings lists fewer). None holds "-" only, so
// none is a name the allow sets.
func envoyRemove(remove []string, declared string) string {
	var b strings.Builder
	for _, n := range remove {
		b.WriteString(strings.ToLower(n))
		b.WriteByte(',')
	}
	b.WriteString(underscoreIdentity)
	b.WriteString(declared)
	return b.String()
}

// declaredSpellings are the "_" spellings of a declared header set, each
// with a leading comma.
type declaredSpellings struct {
	names  []string
	joined string
}

// declaredSpellings returns the "_" spellings of the declared names,
// worked out once per declared set (that is, per policy version) rather
// than on every allow.
func (s *server) declaredSpellings(declared []string) string {
	if p := s.spellings.Load(); p != nil && slices.Equal(p.names, declared) {
		return p.joined
	}
	var b strings.Builder
	var spellings []string
	for _, n := range declared {
		spellings = denial.AppendUnderscoreSpellings(spellings[:0], n)
		for _, sp := range spellings {
			b.WriteByte(',')
			b.WriteString(sp)
		}
	}
	p := &declaredSpellings{names: slices.Clone(declared), joined: b.String()}
	s.spellings.Store(p)
	return p.joined
}
