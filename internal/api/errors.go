package api

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/policygate/policygate/internal/gate"
)

// errorBody is the one shape of every error response.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Scope       string `json:"scope,omitempty"`
}

// denial is one row of the error table: how a gate outcome is answered.
type denial struct {
	status int
	code   string // OAuth error code; also the JSON "error"
	// challenge: whether a WWW-Authenticate header is sent, and whether it
	// carries the error code (RFC 6750 section 3.1: not when no credentials
	// were sent).
	challenge, challengeCode bool
}

// denials is the error table (see README "Errors").
var denials = map[gate.Kind]denial{
	gate.Unauthenticated:   {http.StatusUnauthorized, "unauthorized", true, false},
	gate.InvalidRequest:    {http.StatusUnauthorized, "invalid_request", true, true},
	gate.InvalidToken:      {http.StatusUnauthorized, "invalid_token", true, true},
	gate.InsufficientScope: {http.StatusForbidden, "insufficient_scope", true, true},
	gate.Forbidden:         {http.StatusForbidden, "access_denied", false, false},
	gate.Unavailable:       {http.StatusServiceUnavailable, "temporarily_unavailable", false, false},
}

// writeDenial answers a denied outcome.
func (s *server) writeDenial(w http.ResponseWriter, out gate.Outcome) {
	d, ok := denials[out.Kind]
	if !ok {
		d = denials[gate.Forbidden]
	}
	scope := strings.Join(out.Scopes, " ")
	if d.challenge {
		w.Header().Set("WWW-Authenticate", s.challenge(d, out.Description, scope))
	}
	if out.Kind == gate.Unavailable {
		w.Header().Set("Retry-After", "5")
	}
	body := errorBody{Error: d.code, Description: out.Description, Scope: scope}
	if body.Description == "" {
		body.Description = http.StatusText(d.status)
	}
	writeJSON(w, d.status, body)
}

// challenge renders a Bearer WWW-Authenticate value (RFC 6750 section 3).
func (s *server) challenge(d denial, description, scope string) string {
	var b strings.Builder
	b.WriteString(`Bearer realm="`)
	b.WriteString(s.realm)
	b.WriteByte('"')
	if d.challengeCode {
		b.WriteString(`, error="`)
		b.WriteString(d.code)
		b.WriteByte('"')
		if description != "" {
			b.WriteString(`, error_description="`)
			b.WriteString(quotable(description))
			b.WriteByte('"')
		}
		if scope != "" {
			b.WriteString(`, scope="`)
			b.WriteString(quotable(scope))
			b.WriteByte('"')
		}
	}
	return b.String()
}

// quotable keeps only the characters RFC 6750 allows inside these quoted
// values (%x20-21 / %x23-5B / %x5D-7E): no quote, no backslash.
func quotable(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '"':
			return '\''
		case r == '\\' || r < 0x20 || r > 0x7e:
			return -1
		}
		return r
	}, s)
}

func writeError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, errorBody{Error: code, Description: description})
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
