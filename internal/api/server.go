// Package api is policygate's HTTP face: the chi router, the built-in API
// routes, health, readiness and metrics, and the single error table. It is
// the only package that writes HTTP responses.
package api

import (
	"context"
	"log/slog"
	"net/http"
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
}

type server struct {
	gate    Gate
	logger  *slog.Logger
	metrics *metrics
	render  *denial.Renderer
}

// NewServer returns the service's HTTP handler.
func NewServer(o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	s := &server{gate: o.Gate, logger: o.Logger, metrics: newMetrics(o.Registry), render: denial.NewRenderer(o.Realm, o.Resource.MetadataURL())}

	r := chi.NewRouter()
	r.Use(s.observe, cors(o.CORSOrigins, r))
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

	r.Get("/healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Get("/readyz", readyz(o.Readiness, o.ShuttingDown))
	r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{Registry: o.Registry}))
	routeDiscovery(r, o.Resource)
	for pattern, h := range o.Extra {
		r.Handle(pattern, h)
	}

	r.Group(func(r chi.Router) {
		r.Use(s.authorize)
		r.Get("/api/public", message("Hello from a public endpoint! You don't need to be authenticated to see this."))
		r.Get("/api/private", message("Hello from a private endpoint! You need to be authenticated to see this."))
		r.Get("/api/private-scoped", message("Hello from a private endpoint! You need to be authenticated and have a scope of read:messages to see this."))
	})
	return r
}

func message(text string) http.HandlerFunc {
	body := map[string]string{"message": text}
	return func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, body)
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
