package authn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxJWKSBytes bounds what we read from the provider.
const maxJWKSBytes = 1 << 20

// fetch downloads and parses the key set; maxAge is -1 without Cache-Control.
func (k *KeySet) fetch(ctx context.Context) (*keyIndex, time.Duration, error) {
	jwksURL, err := k.resolveJWKSURL(ctx)
	if err != nil {
		return nil, 0, err
	}
	body, header, err := k.get(ctx, jwksURL)
	if err != nil {
		return nil, 0, fmt.Errorf("fetch jwks %s: %w", jwksURL, err)
	}
	idx, err := parseKeySet(body)
	if err != nil {
		return nil, 0, fmt.Errorf("parse jwks %s: %w", jwksURL, err)
	}
	idx.fetched = time.Now()
	return idx, cacheMaxAge(header.Get("Cache-Control")), nil
}

func (k *KeySet) resolveJWKSURL(ctx context.Context) (string, error) {
	k.mu.Lock()
	u := k.jwksURL
	k.mu.Unlock()
	if u != "" {
		return u, nil
	}
	discoveryURL := DiscoveryURL(k.cfg.Issuer)
	body, _, err := k.get(ctx, discoveryURL)
	if err != nil {
		return "", fmt.Errorf("fetch discovery %s: %w", discoveryURL, err)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("parse discovery %s: %w", discoveryURL, err)
	}
	if doc.Issuer != k.cfg.Issuer {
		return "", fmt.Errorf("discovery %s names issuer %q, want %q", discoveryURL, doc.Issuer, k.cfg.Issuer)
	}
	if err := CheckKeyURL(doc.JWKSURI); err != nil {
		return "", fmt.Errorf("discovery %s: jwks_uri: %w", discoveryURL, err)
	}
	k.mu.Lock()
	k.jwksURL = doc.JWKSURI
	k.mu.Unlock()
	return doc.JWKSURI, nil
}

// DiscoveryURL is where an OpenID provider publishes its configuration.
func DiscoveryURL(issuer string) string {
	return strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
}

// CheckIssuer accepts an issuer identifier: a URL CheckKeyURL accepts,
// without query or fragment (OpenID Connect Discovery 1.0, section 3:
// discovery appends its path to the issuer, which a query would swallow).
func CheckIssuer(raw string) error {
	if err := CheckKeyURL(raw); err != nil {
		return err
	}
	u, _ := url.Parse(raw) // CheckKeyURL parsed it
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("%q has a query or fragment; an issuer has neither", u.Redacted())
	}
	return nil
}

// CheckKeyURL accepts https URLs, and http only for loopback hosts (tests,
// the dev issuer): keys fetched in clear text could be swapped on the way.
func CheckKeyURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	if u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", u.Redacted())
	}
	if u.User != nil {
		// A key set is public; credentials in its URL would end up in
		// errors, logs and /readyz.
		return fmt.Errorf("%q carries credentials (user:password@); a key set needs none", u.Redacted())
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if IsLoopbackHost(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%q must use https (http is allowed for loopback only)", raw)
	default:
		return fmt.Errorf("%q must use https", raw)
	}
}

// checkKeyRedirect holds every redirect of a key or discovery fetch to the
// rule of CheckKeyURL: without it, a provider (or a CDN before it) that
// redirects to plain http would have the keys fetched in clear text.
func checkKeyRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return errors.New("stopped after 5 redirects")
	}
	if err := CheckKeyURL(req.URL.String()); err != nil {
		return fmt.Errorf("redirect: %w", err)
	}
	return nil
}

// IsLoopbackHost reports whether host names this machine only: the name
// localhost, or an IP literal in 127.0.0.0/8 or ::1 (IPv4-mapped
// ::ffff:127.x.y.z too), with or without brackets. A host name that merely
// starts with "127." (127.attacker.example) is resolved by DNS like any
// other name, so it is not loopback.
func IsLoopbackHost(host string) bool {
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	if strings.Contains(host, "%") {
		return false // a zone (fe80::1%eth0) is never loopback
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

func (k *KeySet) get(ctx context.Context, u string) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.cfg.Client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("status %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, nil, err
	}
	if len(body) > maxJWKSBytes {
		return nil, nil, fmt.Errorf("larger than %d bytes", maxJWKSBytes)
	}
	return body, resp.Header, nil
}

// cacheMaxAge returns the max-age of a Cache-Control value, 0 for no-cache
// or no-store, and -1 when it says nothing usable.
func cacheMaxAge(v string) time.Duration {
	if v == "" {
		return -1
	}
	for _, d := range strings.Split(v, ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		switch {
		case d == "no-cache" || d == "no-store":
			return 0
		case strings.HasPrefix(d, "max-age="):
			n, err := strconv.ParseInt(strings.Trim(d[len("max-age="):], `"`), 10, 64)
			if err != nil || n < 0 {
				return -1
			}
			if n > int64(365*24*time.Hour/time.Second) {
				n = int64(365 * 24 * time.Hour / time.Second)
			}
			return time.Duration(n) * time.Second
		}
	}
	return -1
}
