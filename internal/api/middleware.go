package api

import (
	"net/http"

	"github.com/policygate/policygate/internal/gate"
)

// authorize runs the gate for a matched route and answers denials.
func (s *server) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := s.gate.Check(r.Context(), gate.Request{
			Method:        r.Method,
			Host:          r.Host, // a host with its own table is decided by it
			Path:          r.URL.EscapedPath(),
			Authorization: r.Header.Values("Authorization"),
		})
		if out.DecisionID != "" {
			w.Header().Set("X-Decision-Id", out.DecisionID)
		}
		recordOutcome(w, out)
		if out.Kind == gate.Allowed {
			next.ServeHTTP(w, r)
			return
		}
		s.writeDenial(w, out)
	})
}
