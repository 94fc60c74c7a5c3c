package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
)

// corsMaxAge is how long (seconds) a browser may reuse a preflight answer.
const corsMaxAge = "600"

// cors lets browsers on the allowed origins call the API with a bearer
// token (Auth0's single-page-app quickstarts call it from
// http://localhost:3000). With no origins configured it adds nothing, and
// browsers keep cross-origin reads blocked. "*" allows any origin, without
// credentials. Preflight requests (OPTIONS with Access-Control-Request-Method)
// for a route that exists are answered here, before authentication: browsers
// never send the token on a preflight.
func cors(origins []string, router chi.Routes) func(http.Handler) http.Handler {
	anyOrigin := slices.Contains(origins, "*")
	return func(next http.Handler) http.Handler {
		if len(origins) == 0 {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			origin := r.Header.Get("Origin")
			h := w.Header()
			if !anyOrigin {
				h.Add("Vary", "Origin")
			}
			if origin == "" || !anyOrigin && !slices.Contains(origins, origin) {
				next.ServeHTTP(w, r)
				return
			}
			if anyOrigin {
				h.Set("Access-Control-Allow-Origin", "*")
			} else {
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Allow-Credentials", "true")
			}
			method := r.Header.Get("Access-Control-Request-Method")
			if r.Method != http.MethodOptions || method == "" {
				h.Set("Access-Control-Expose-Headers", "WWW-Authenticate, X-Decision-Id, X-Request-Id")
				next.ServeHTTP(w, r)
				return
			}
			if !router.Match(chi.NewRouteContext(), routeMethod(method), r.URL.Path) {
				next.ServeHTTP(w, r) // unknown route or method: 404/405 as usual
				return
			}
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			h.Set("Access-Control-Allow-Methods", method)
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-Id")
			h.Set("Access-Control-Max-Age", corsMaxAge)
			w.WriteHeader(http.StatusNoContent)
		})
	}
}

// corsOwner is proxy mode's ModifyResponse when CORS_ALLOWED_ORIGINS is
// set (nil otherwise): policygate's cors middleware has already set the
// Access-Control-* headers and Vary: Origin, so the upstream's are dropped
// (ReverseProxy adds the upstream's header values to the ones set).
func corsOwner(origins []string) func(*http.Response) error {
	if len(origins) == 0 {
		return nil
	}
	varyOrigin := !slices.Contains(origins, "*") // cors adds Vary: Origin then
	return func(res *http.Response) error {
		for name := range res.Header {
			if strings.HasPrefix(name, "Access-Control-") {
				delete(res.Header, name)
			}
		}
		if vary, ok := res.Header["Vary"]; ok && varyOrigin {
			res.Header["Vary"] = withoutToken(vary, "Origin")
			if len(res.Header["Vary"]) == 0 {
				delete(res.Header, "Vary")
			}
		}
		return nil
	}
}

// withoutToken returns the comma-separated values without token (in any
// case), dropping values left empty.
func withoutToken(values []string, token string) []string {
	var out []string
	for _, v := range values {
		var kept []string
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); t != "" && !strings.EqualFold(t, token) {
				kept = append(kept, t)
			}
		}
		if len(kept) > 0 {
			out = append(out, strings.Join(kept, ", "))
		}
	}
	return out
}

// ValidateCORSOrigin checks one CORS_ALLOWED_ORIGINS entry: "*" or an
// origin exactly as a browser sends it in Origin (see CanonicalCORSOrigin).
func ValidateCORSOrigin(o string) bool {
	return checkCORSOrigin(o) == nil
}

// checkCORSOrigin explains why o is not "*" nor an origin as a browser
// serializes it: lower-case http or https scheme, lower-case host without a
// trailing dot, a port from 1 to 65535 only when it is not the scheme's
// default, nothing else. Origins are compared byte for byte, so an entry in
// another form would silently never match; the error gives the form to
// use when there is one.
func checkCORSOrigin(o string) error {
	if o == "*" {
		return nil
	}
	canonical, err := canonicalOrigin(o)
	if err != nil {
		return fmt.Errorf("%q is not an origin such as https://app.example.com (or *): %w", o, err)
	}
	if canonical != o {
		return fmt.Errorf("%q is not an origin as a browser sends it (lower-case scheme and host, no default port): use %q", o, canonical)
	}
	return nil
}

// canonicalOrigin returns o as a browser would send it, or why no browser
// sends anything like it.
func canonicalOrigin(o string) (string, error) {
	scheme, rest, ok := strings.Cut(o, "://")
	scheme = strings.ToLower(scheme)
	if !ok || scheme != "http" && scheme != "https" {
		return "", errors.New("the scheme must be http or https")
	}
	if strings.ContainsAny(rest, "/?#") {
		return "", errors.New("no path, query or fragment (not even a trailing /)")
	}
	if strings.Contains(rest, "@") {
		return "", errors.New("no user info")
	}
	host, port := rest, ""
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.HasSuffix(rest, "]") {
		host, port = rest[:i], rest[i+1:]
		if port == "" {
			return "", errors.New("a port is a number from 1 to 65535")
		}
	}
	if port != "" {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 || strings.TrimLeft(port, "0123456789") != "" {
			return "", errors.New("a port is a number from 1 to 65535")
		}
		port = strconv.FormatUint(n, 10)
		if scheme == "http" && n == 80 || scheme == "https" && n == 443 {
			port = ""
		}
	}
	host, err := canonicalOriginHost(host)
	if err != nil {
		return "", err
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, nil
}

// canonicalOriginHost lower-cases a host name or checks an IP literal.
func canonicalOriginHost(host string) (string, error) {
	if strings.HasPrefix(host, "[") {
		a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
		if err != nil || !strings.HasSuffix(host, "]") || !a.Is6() || a.Zone() != "" {
			return "", errors.New("an IPv6 host is written [2001:db8::1]")
		}
		return "[" + a.String() + "]", nil
	}
	if host == "" {
		return "", errors.New("the host is missing")
	}
	// policygate refuses hosts with a trailing dot (docs/design.md), so
	// an origin with one could never be served: suggest the host without.
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, label := range strings.Split(host, ".") {
		if label == "" {
			return "", errors.New("the host has an empty label")
		}
		for _, c := range []byte(label) {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return "", errors.New("the host must be ASCII letters, digits, '-' and '.' (punycode for international names)")
			}
		}
	}
	// A browser reads a host whose last label is numeric as IPv4 and
	// writes it dotted-quad: 127.1 becomes 127.0.0.1.
	if last := host[strings.LastIndexByte(host, '.')+1:]; strings.Trim(last, "0123456789") == "" {
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is4() {
			return "", errors.New("a numeric host is an IPv4 address such as 127.0.0.1")
		}
		return a.String(), nil
	}
	return host, nil
}

// ParseCORSOrigins reads CORS_ALLOWED_ORIGINS: origins separated by commas
// or spaces, each one ValidateCORSOrigin accepts, or "*" alone. Every
// problem is an error of its own (errors.Join).
func ParseCORSOrigins(list string) ([]string, error) {
	var origins []string
	var errs []error
	for _, o := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' }) {
		if err := checkCORSOrigin(o); err != nil {
			errs = append(errs, err)
		}
		origins = append(origins, o)
	}
	if len(origins) > 1 && slices.Contains(origins, "*") {
		errs = append(errs, errors.New(`"*" allows every origin; list origins or use "*" alone`))
	}
	return origins, errors.Join(errs...)
}
