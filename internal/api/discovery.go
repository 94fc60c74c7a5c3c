package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/policygate/policygate/internal/denial"
)

// WellKnownResource is the RFC 9728 well-known path.
const WellKnownResource = "/.well-known/oauth-protected-resource"

// ProtectedResource is what this server publishes about itself (RFC 9728
// OAuth 2.0 Protected Resource Metadata), so that clients, MCP clients
// among them, find the authorization server and scopes from a 401 alone.
type ProtectedResource struct {
	// Resource is the resource identifier: PUBLIC_URL, else the first
	// audience.
	Resource string
	// PublicURL, when set, makes every challenge carry resource_metadata
	// (RFC 9728 section 5.1) built from it; never from a request's Host.
	PublicURL string
	// Identifiers are every resource identifier the server accepts tokens
	// for (the audiences and PublicURL): the path-suffixed well-known URIs
	// (section 3.1) answer for the ones that are URLs with a path.
	Identifiers []string
	// AuthorizationServers are the issuers.
	AuthorizationServers []string
	// Scopes returns scopes_supported: every scope the active policy's
	// route data names, read at each request.
	Scopes func(ctx context.Context) ([]string, error)
	// ErrNotReady is what Scopes returns before a policy is active.
	ErrNotReady error
	// Documentation is resource_documentation, when set.
	Documentation string
}

// MetadataURL is the metadata document's URL derived from PublicURL (the
// well-known path inserted between host and path), "" without PublicURL.
func (p *ProtectedResource) MetadataURL() string {
	if p == nil || p.PublicURL == "" {
		return ""
	}
	u, err := url.Parse(p.PublicURL)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host + WellKnownResource + strings.TrimSuffix(u.EscapedPath(), "/")
}

// resourceMetadata is the document (RFC 9728 section 2).
type resourceMetadata struct {
	Resource             string   `json:"resource"`
	AuthorizationServers []string `json:"authorization_servers"`
	ScopesSupported      []string `json:"scopes_supported"`
	BearerMethods        []string `json:"bearer_methods_supported"`
	Documentation        string   `json:"resource_documentation,omitempty"`
}

// routeDiscovery registers the metadata document at the well-known path
// and its path-suffixed forms. Without p nothing is registered.
func routeDiscovery(r chi.Router, p *ProtectedResource) {
	if p == nil {
		return
	}
	r.Get(WellKnownResource, p.serve(p.Resource))
	r.Get(WellKnownResource+"/*", func(w http.ResponseWriter, req *http.Request) {
		suffix := "/" + chi.URLParam(req, "*")
		for _, id := range p.Identifiers {
			if u, err := url.Parse(id); err == nil && u.Host != "" && u.Path != "" && u.Path != "/" &&
				strings.TrimSuffix(u.EscapedPath(), "/") == strings.TrimSuffix(suffix, "/") {
				p.serve(id)(w, req)
				return
			}
		}
		writeError(w, http.StatusNotFound, "not_found", "no protected resource at this path; see "+WellKnownResource)
	})
}

func (p *ProtectedResource) serve(resource string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		scopes, err := p.Scopes(r.Context())
		if err != nil {
			if p.ErrNotReady != nil && errors.Is(err, p.ErrNotReady) {
				w.Header().Set("Retry-After", denial.RetryAfter)
				writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the policy is not loaded yet")
				return
			}
			writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the policy's scopes cannot be read")
			return
		}
		if scopes == nil {
			scopes = []string{}
		}
		writeJSON(w, http.StatusOK, resourceMetadata{
			Resource:             resource,
			AuthorizationServers: p.AuthorizationServers,
			ScopesSupported:      scopes,
			BearerMethods:        []string{"header"},
			Documentation:        p.Documentation,
		})
	}
}
