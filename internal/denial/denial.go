package denial

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/policygate/policygate/internal/gate"
)

// Body is the one shape of every error response.
type Body struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Scope       string `json:"scope,omitempty"`
}

// row is one line of the error table: how a denied outcome is answered.
type row struct {
	status int
	code   string // OAuth error code; also the JSON "error"
	// challenge: whether a WWW-Authenticate header is sent, and whether it
	// carries the error code (RFC 6750 section 3.1: not when no credentials
	// were sent).
	challenge, challengeCode bool
}

// table is the error table (docs/design.md, "Status table").
var table = map[gate.Kind]row{
	gate.Unauthenticated:   {http.StatusUnauthorized, "unauthorized", true, false},
	gate.InvalidRequest:    {http.StatusUnauthorized, "invalid_request", true, true},
	gate.InvalidToken:      {http.StatusUnauthorized, "invalid_token", true, true},
	gate.InsufficientScope: {http.StatusForbidden, "insufficient_scope", true, true},
	gate.Forbidden:         {http.StatusForbidden, "access_denied", false, false},
	gate.Refused:           {http.StatusForbidden, "invalid_request", false, false},
	gate.Unavailable:       {http.StatusServiceUnavailable, "temporarily_unavailable", false, false},
}

// RetryAfter is the Retry-After value of a 503: keys or policy not ready.
const RetryAfter = "5"

// Response is a rendered denial, protocol-free.
type Response struct {
	Status int
	// Challenge is the WWW-Authenticate value, "" when none is sent.
	Challenge string
	// RetryAfter is set on 503 answers.
	RetryAfter string
	// Body is the JSON error object, newline-terminated; its content type
	// is application/json.
	Body []byte
}

// Renderer renders denials for one deployment: its realm and, when a
// public URL is configured, the RFC 9728 metadata URL its challenges name.
type Renderer struct {
	realm            string
	resourceMetadata string
}

// NewRenderer returns a renderer whose challenges carry realm and, when
// resourceMetadata is not empty, resource_metadata (RFC 9728 section 5.1).
func NewRenderer(realm, resourceMetadata string) *Renderer {
	if realm == "" {
		realm = "policygate"
	}
	return &Renderer{realm: quotable(realm), resourceMetadata: quotable(resourceMetadata)}
}

// Render answers a denied outcome. An outcome of an unknown kind is
// answered as access_denied: fail closed.
func (r *Renderer) Render(out gate.Outcome) Response {
	d, ok := table[out.Kind]
	if !ok || out.Kind == gate.Allowed {
		d = table[gate.Forbidden]
	}
	scope := strings.Join(out.Scopes, " ")
	resp := Response{Status: d.status}
	if d.challenge {
		resp.Challenge = r.challenge(d, out.Description, scope)
	}
	if d.status == http.StatusServiceUnavailable {
		resp.RetryAfter = RetryAfter
	}
	body := Body{Error: d.code, Description: out.Description}
	if d.code == "insufficient_scope" {
		body.Scope = scope
	}
	if body.Description == "" {
		body.Description = http.StatusText(d.status)
	}
	resp.Body = Marshal(body)
	return resp
}

// Marshal encodes an error body as the faces send it.
func Marshal(b Body) []byte {
	out, err := json.Marshal(b)
	if err != nil { // strings only: cannot happen
		return []byte(`{"error":"server_error","error_description":"unencodable error"}` + "\n")
	}
	return append(out, '\n')
}

// challenge renders a Bearer WWW-Authenticate value (RFC 6750 section 3).
func (r *Renderer) challenge(d row, description, scope string) string {
	var b strings.Builder
	b.WriteString(`Bearer realm="`)
	b.WriteString(r.realm)
	b.WriteByte('"')
	if d.challengeCode {
		param(&b, "error", d.code)
		if description != "" {
			param(&b, "error_description", quotable(description))
		}
		if scope != "" {
			param(&b, "scope", quotable(scope))
		}
	}
	if r.resourceMetadata != "" {
		param(&b, "resource_metadata", r.resourceMetadata)
	}
	return b.String()
}

func param(b *strings.Builder, name, value string) {
	b.WriteString(", ")
	b.WriteString(name)
	b.WriteString(`="`)
	b.WriteString(value)
	b.WriteByte('"')
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
