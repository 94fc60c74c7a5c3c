package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
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
			if !router.Match(chi.NewRouteContext(), method, r.URL.Path) {
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
// origin such as https://app.example.com (scheme, host, optional port; no
// path, no trailing slash).
func ValidateCORSOrigin(o string) bool {
	if o == "*" {
		return true
	}
	scheme, rest, ok := strings.Cut(o, "://")
	if !ok || scheme != "http" && scheme != "https" || rest == "" {
		return false
	}
	return !strings.ContainsAny(rest, "/?#@ *")
}

// ParseCORSOrigins reads CORS_ALLOWED_ORIGINS: origins separated by commas
// or spaces, each one ValidateCORSOrigin accepts, or "*" alone. Every
// problem is an error of its own (errors.Join).
func ParseCORSOrigins(list string) ([]string, error) {
	var origins []string
	var errs []error
	for _, o := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' }) {
		if !ValidateCORSOrigin(o) {
			errs = append(errs, fmt.Errorf("%q is not an origin such as https://app.example.com (or *)", o))
		}
		origins = append(origins, o)
	}
	if len(origins) > 1 && slices.Contains(origins, "*") {
		errs = append(errs, errors.New(`"*" allows every origin; list origins or use "*" alone`))
	}
	return origins, errors.Join(errs...)
}
