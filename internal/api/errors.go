package api

import (
	"encoding/json"
	"net/http"

	"github.com/policygate/policygate/internal/denial"
	"github.com/policygate/policygate/internal/gate"
)

// writeDenial answers a denied outcome on the built-in routes.
func (s *server) writeDenial(w http.ResponseWriter, out gate.Outcome) {
	if out.Kind == gate.Refused && out.Reason == gate.ReasonInvalidPath {
		// The built-in routes keep the answer they always gave a refused
		// path: 401 invalid_request with its challenge. Every other
		// refusal (a host they now read, an allow whose identity cannot
		// be sent) is a 403 as on every face: no token would fix it, and
		// a challenge would ask for one.
		out.Kind = gate.InvalidRequest
	}
	writeRendered(w, s.render.Render(out))
}

// writeRendered sends a denial rendered by the denial package.
func writeRendered(w http.ResponseWriter, resp denial.Response) {
	h := w.Header()
	if resp.Challenge != "" {
		h.Set("WWW-Authenticate", resp.Challenge)
	}
	if resp.RetryAfter != "" {
		h.Set("Retry-After", resp.RetryAfter)
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(resp.Status)
	w.Write(resp.Body)
}

func writeError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, denial.Body{Error: code, Description: description})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if status >= 400 {
		h.Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
