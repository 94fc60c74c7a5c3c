package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/policygate/policygate/internal/denial"
	"github.com/policygate/policygate/internal/gate"
)

// Gate is the pipeline the router asks about every protected request.
type Gate interface {
	Check(ctx context.Context, req gate.Request) gate.Outcome
	// Refuse counts and returns the refusal of a request a face refuses
	// before asking (gate.Gate.Refuse).
	Refuse(reason, description string) gate.Outcome
}

// ReadinessCheck reports nil when its part is ready.
type ReadinessCheck struct {
	Name  string
	Check func() error
	// Details, when set, adds facts to /readyz's body under
	// details.<Name> (e.g. the policy revision, or why a newer policy was
	// refused while the old one serves), whether ready or not.
	Details func() map[string]any
}

// Options are the server's dependencies.
type Options struct {
	Gate     Gate
	Logger   *slog.Logger
	Registry *prometheus.Registry
	// Realm is the Bearer challenge's realm.
	Realm string
	// Readiness lists what /readyz checks, besides shutdown.
	Readiness []ReadinessCheck
	// Extra routes (pattern -> handler), e.g. the dev issuer's.
	Extra map[string]http.Handler
	// ShuttingDown, when set and true, makes /readyz answer 503.
	ShuttingDown *atomic.Bool
	// CORSOrigins may call the API from a browser (see cors.go).
	CORSOrigins []string
	// Resource, when set, is published at /.well-known/oauth-protected-resource
	// and named by every challenge (see discovery.go).
	Resource *ProtectedResource
	// TrustedProxies may call /authz (default DefaultTrustedProxies).
	TrustedProxies []netip.Prefix
	// Proxy, when set, is proxy mode: the handler serves only proxied
	// traffic (and Extra, the dev issuer's routes with --dev).
	Proxy *ProxyOptions
	// SeparateAdmin leaves /healthz, /readyz and /metrics to the handler
	// NewAdminServer returns (ADMIN_ADDR).
	SeparateAdmin bool
}

type server struct {
	gate    Gate
	logger  *slog.Logger
	metrics *metrics
	render  *denial.Renderer
	// spellings remembers the "_" spellings of the last declared header
	// set (they change only with the policy version), for envoyRemove.
	spellings atomic.Pointer[declaredSpellings]
}

// NewServer returns the handler of the main listener: the built-in
// routes, /authz and (unless SeparateAdmin) health, readiness and metrics;
// in proxy mode, the gated reverse proxy alone.
func NewServer(o Options) http.Handler {
	s, r := newRouter(&o)
	// Proxy mode too: the document shadows an upstream's own copy.
	routeDiscovery(r, o.Resource)
	for pattern, h := range o.Extra {
		r.Handle(pattern, h)
	}
	if o.Proxy != nil {
		proxy := s.newProxy(*o.Proxy, o.CORSOrigins)
		r.Handle("/*", proxy)
		// A target no pattern matches ("*", say) is the gate's to
		// refuse too, not a 404.
		r.NotFound(proxy.ServeHTTP)
		return r
	}
	if !o.SeparateAdmin {
		adminRoutes(r, o)
	}
	fa := s.forwardAuth(o.TrustedProxies)
	r.Handle(authzPrefix, fa)
	r.Handle(authzPrefix+"/*", fa)

	r.Group(func(r chi.Router) {
		r.Use(s.authorize)
		r.Get("/api/public", message("Hello from a public endpoint! You don't need to be authenticated to see this."))
		r.Get("/api/private", message("Hello from a private endpoint! You need to be authenticated to see this."))
		r.Get("/api/private-scoped", message("Hello from a private endpoint! You need to be authenticated and have a scope of read:messages to see this."))
	})
	return r
}

// NewAdminServer returns the handler of ADMIN_ADDR: /healthz, /readyz and
// /metrics, kept off the main listener so they never shadow an upstream's
// own paths.
func NewAdminServer(o Options) http.Handler {
	o.CORSOrigins = nil
	_, r := newRouter(&o)
	adminRoutes(r, o)
	return r
}

func newRouter(o *Options) (*server, *chi.Mux) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	s := &server{gate: o.Gate, logger: o.Logger, metrics: requestMetrics(o.Registry), render: denial.NewRenderer(o.Realm, o.Resource.MetadataURL())}

	r := chi.NewRouter()
	// /authz answers proxies, never browsers: no CORS there.
	r.Use(s.observe, except(authzPrefix, cors(o.CORSOrigins, r)), routeAnyMethod)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such route")
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, req *http.Request) {
		// chi sets Allow only with its own handler; find the methods here.
		for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions} {
			if r.Match(chi.NewRouteContext(), m, req.URL.Path) {
				w.Header().Add("Allow", m)
			}
		}
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "method "+req.Method+" is not allowed here")
	})
	return s, r
}

func adminRoutes(r chi.Router, o Options) {
	r.Get("/healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Get("/readyz", readyz(o.Readiness, o.ShuttingDown))
	r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{Registry: o.Registry}))
}

// routeMethod is the method chi routes a request by. chi's table knows
// only GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, CONNECT, QUERY and
// TRACE, and answers any other method 405 before it looks at the path: WebDAV's
// PROPFIND, PURGE, or a malformed "get" would never reach proxy mode or
// /authz, where the gate decides every valid method and refuses the rest.
// So any other method is routed as TRACE, which no route here names on its
// own: it reaches the routes registered for every method (Handle: proxy
// mode's /*, /authz, Extra) and misses the GET-only ones (the demo routes'
// 405, the discovery document, which proxy mode's /* then serves), as a
// method chi knew would. The handler still sees the request's own method.
func routeMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, "QUERY", http.MethodTrace:
		return m
	}
	return http.MethodTrace
}

// routeAnyMethod routes a method chi does not know by routeMethod.
func routeAnyMethod(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m := routeMethod(r.Method); m != r.Method {
			chi.RouteContext(r.Context()).RouteMethod = m // set by the Mux before its middlewares
		}
		next.ServeHTTP(w, r)
	})
}

// except skips mw for the paths under prefix.
func except(prefix string, mw func(http.Handler) http.Handler) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		wrapped := mw(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p := r.URL.Path
			if strings.HasPrefix(p, prefix) && (len(p) == len(prefix) || p[len(prefix)] == '/') {
				next.ServeHTTP(w, r)
				return
			}
			wrapped.ServeHTTP(w, r)
		})
	}
}

// message answers with a constant JSON body, encoded once: the demo
// routes are what load tests hit, and encoding per request was a tenth of
// a replayed request's CPU.
func message(text string) http.HandlerFunc {
	body, err := json.Marshal(map[string]string{"message": text})
	if err != nil { // a string map: cannot happen
		panic(err)
	}
	body = append(body, '\n')
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = []string{"application/json"}
		w.WriteHeader(http.StatusOK)
		w.Write(body)
	}
}

func readyz(checks []ReadinessCheck, shuttingDown *atomic.Bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		status, results := http.StatusOK, make(map[string]string, len(checks)+1)
		details := map[string]any{}
		if shuttingDown != nil && shuttingDown.Load() {
			status, results["shutdown"] = http.StatusServiceUnavailable, "shutting down"
		}
		for _, c := range checks {
			if c.Details != nil {
				details[c.Name] = c.Details()
			}
			if err := c.Check(); err != nil {
				status, results[c.Name] = http.StatusServiceUnavailable, err.Error()
				continue
			}
			results[c.Name] = "ok"
		}
		state := "ready"
		if status != http.StatusOK {
			state = "not ready"
		}
		body := map[string]any{"status": state, "checks": results}
		if len(details) > 0 {
			body["details"] = details
		}
		writeJSON(w, status, body)
	}
}
