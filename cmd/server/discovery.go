package main

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/policygate/policygate/internal/api"
	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/authz"
)

// discoveryConfig is the RFC 9728 part of the configuration.
type discoveryConfig struct {
	// PublicURL is PUBLIC_URL: the resource identifier, named (as its
	// metadata URL) by every challenge. --dev sets it to its own address.
	PublicURL string
	// Documentation is RESOURCE_DOCUMENTATION_URL.
	Documentation string
}

// loadDiscoveryConfig reads PUBLIC_URL and RESOURCE_DOCUMENTATION_URL,
// reporting problems as loadConfig does, one per variable. PUBLIC_URL must
// be one of the audiences: a client gets tokens for the resource the
// metadata names, and those must verify here. Dev mode sets its own.
func loadDiscoveryConfig(getenv func(string) string, cfg Config) (discoveryConfig, error) {
	var d discoveryConfig
	var errs []error
	env := func(name string) string { return strings.TrimSpace(getenv(name)) }
	if v := env("PUBLIC_URL"); v != "" && !cfg.Dev {
		switch err := checkPublicURL(v); {
		case err != nil:
			errs = append(errs, fmt.Errorf("PUBLIC_URL: %v", err))
		case len(configAudiences(cfg)) > 0 && !slices.Contains(configAudiences(cfg), v):
			errs = append(errs, fmt.Errorf("PUBLIC_URL: %q is not one of the audiences (%s): tokens for it would not verify here", v, strings.Join(configAudiences(cfg), ", ")))
		default:
			d.PublicURL = v
		}
	}
	if v := env("RESOURCE_DOCUMENTATION_URL"); v != "" {
		if u, err := url.Parse(v); err != nil || u.Host == "" || u.Scheme != "https" && u.Scheme != "http" {
			errs = append(errs, fmt.Errorf("RESOURCE_DOCUMENTATION_URL: %q is not an absolute http(s) URL", v))
		} else {
			d.Documentation = v
		}
	}
	return d, errors.Join(errs...)
}

// checkPublicURL accepts an absolute https URL (http on loopback only), no
// query, fragment or user information (RFC 9728 section 1.2).
func checkPublicURL(v string) error {
	u, err := url.Parse(v)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		return fmt.Errorf("%q is not an absolute URL such as https://api.example.com", v)
	case u.Scheme == "http" && !authn.IsLoopbackHost(u.Hostname()):
		return fmt.Errorf("%q must use https (http only on loopback)", v)
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("%q must use https", v)
	case u.RawQuery != "" || u.Fragment != "" || strings.Contains(v, "#") || u.User != nil:
		return fmt.Errorf("%q must not have a query, fragment or user information", v)
	}
	return nil
}

// configAudiences lists every issuer's audiences, the realm first.
func configAudiences(cfg Config) []string {
	var out []string
	for _, ic := range cfg.Issuers {
		for _, a := range ic.Audiences {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

// protectedResource is what /.well-known/oauth-protected-resource
// publishes: the resource is PUBLIC_URL, else the first audience.
func protectedResource(cfg Config, d discoveryConfig, engine *authz.Engine) *api.ProtectedResource {
	audiences := configAudiences(cfg)
	p := &api.ProtectedResource{
		PublicURL:            d.PublicURL,
		Identifiers:          audiences,
		AuthorizationServers: cfg.issuerNames(),
		Scopes:               engine.Scopes,
		ErrNotReady:          authz.ErrNotReady,
		Documentation:        d.Documentation,
	}
	switch {
	case d.PublicURL != "":
		p.Resource = d.PublicURL
		if !slices.Contains(p.Identifiers, d.PublicURL) {
			p.Identifiers = append(p.Identifiers, d.PublicURL)
		}
	case len(audiences) > 0:
		p.Resource = audiences[0]
	}
	return p
}
