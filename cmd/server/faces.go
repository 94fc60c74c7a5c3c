package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/policygate/policygate/internal/api"
	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/denial"
	"github.com/policygate/policygate/internal/gate"
	"github.com/policygate/policygate/internal/redact"
)

// facesUsage names the settings of the forward-auth and proxy faces in
// --help.
const facesUsage = "  TRUSTED_PROXIES, UPSTREAM_URL, UPSTREAM_TIMEOUT, UPSTREAM_STRIP_TOKEN, ADMIN_ADDR,\n" +
	"  PATH_ALLOW_SEMICOLON, PATH_ALLOW_PERCENT25 (docs/forward-auth.md, docs/proxy-mode.md)"

// FacesConfig configures the faces besides the built-in routes: who may
// call /authz, the reverse-proxy mode, the admin listener and the path
// rules (docs/design.md, sections 2, 6 and 7).
type FacesConfig struct {
	TrustedProxies []netip.Prefix
	// UpstreamURL turns on proxy mode; nil otherwise.
	UpstreamURL        *url.URL
	UpstreamTimeout    time.Duration
	UpstreamStripToken bool
	// AdminAddr serves /healthz, /readyz and /metrics when set.
	AdminAddr string
	Paths     gate.PathRules
}

const (
	defaultTrustedProxies   = "127.0.0.0/8,::1"
	defaultUpstreamTimeout  = 30 * time.Second
	defaultProxyAdminAddr   = "127.0.0.1:9090"
	maxUpstreamTimeout      = time.Hour
	minUpstreamTimeoutFloor = time.Millisecond
)

// loadFaces fills c from env, but for the admin listener (loadAdmin); bad
// reports a problem naming its variable.
func loadFaces(c *FacesConfig, env func(string) string, dev bool, bad func(variable, format string, args ...any)) {
	v := env("TRUSTED_PROXIES")
	if v == "" {
		v = defaultTrustedProxies
	}
	prefixes, err := parsePrefixes(v)
	if err != nil {
		bad("TRUSTED_PROXIES", "%v", err)
	}
	c.TrustedProxies = prefixes

	if v := env("UPSTREAM_URL"); v != "" {
		u, err := url.Parse(v)
		switch {
		// The value is not echoed whole: it may carry a secret.
		case err != nil:
			bad("UPSTREAM_URL", "not a URL; want an http or https URL such as http://127.0.0.1:8080")
		case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
			bad("UPSTREAM_URL", "scheme %q, host %q: want an http or https URL such as http://127.0.0.1:8080", u.Scheme, u.Hostname())
		case u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
			bad("UPSTREAM_URL", "%q must have no user, query or fragment", redact.URLs(v))
		default:
			c.UpstreamURL = u
		}
	}
	c.UpstreamTimeout = defaultUpstreamTimeout
	if v := env("UPSTREAM_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < minUpstreamTimeoutFloor || d > maxUpstreamTimeout {
			bad("UPSTREAM_TIMEOUT", "%q is not a duration from 1ms to 1h (e.g. 30s)", v)
		} else {
			c.UpstreamTimeout = d
		}
	}
	c.UpstreamStripToken = boolSetting(env, bad, "UPSTREAM_STRIP_TOKEN")
	c.Paths.AllowSemicolon = boolSetting(env, bad, "PATH_ALLOW_SEMICOLON")
	c.Paths.AllowPercent25 = boolSetting(env, bad, "PATH_ALLOW_PERCENT25")
	for _, name := range []string{"UPSTREAM_TIMEOUT", "UPSTREAM_STRIP_TOKEN"} {
		if env(name) != "" && c.UpstreamURL == nil && env("UPSTREAM_URL") == "" {
			bad(name, "applies only with UPSTREAM_URL (proxy mode)")
		}
	}
}

// loadAdmin reads ADMIN_ADDR, after loadFaces: proxy mode turns the admin
// listener on by default. Dev mode keeps it on loopback, like LISTEN_ADDR.
func loadAdmin(c *FacesConfig, env func(string) string, dev bool, bad func(variable, format string, args ...any)) {
	c.AdminAddr = env("ADMIN_ADDR")
	if c.AdminAddr == "" && c.UpstreamURL != nil {
		c.AdminAddr = defaultProxyAdminAddr
	}
	if c.AdminAddr != "" {
		if host, _, err := net.SplitHostPort(c.AdminAddr); err != nil {
			bad("ADMIN_ADDR", "%q is not host:port (e.g. 127.0.0.1:9090)", c.AdminAddr)
		} else if dev && !authn.IsLoopbackHost(host) {
			bad("ADMIN_ADDR", "dev mode listens on loopback only (e.g. 127.0.0.1:9090), not %q", c.AdminAddr)
		}
	}
}

func boolSetting(env func(string) string, bad func(string, string, ...any), name string) bool {
	v := env(name)
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		bad(name, "%q is not true or false", v)
	}
	return b
}

// parsePrefixes reads comma- or space-separated CIDRs; a bare address is
// a one-address prefix. IPv4-mapped IPv6 prefixes are refused: callers'
// addresses are unmapped before the check.
func parsePrefixes(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil || a.Zone() != "" {
				return nil, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8 or an address", f)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Addr().Is4In6() {
			return nil, fmt.Errorf("%q is an IPv4-mapped prefix; write the IPv4 CIDR", f)
		}
		out = append(out, p.Masked())
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%q lists no CIDR", v)
	}
	return out, nil
}

// newGate is the one pipeline every face shares: the decision metrics are
// counted in it, an allow whose identity cannot be sent is refused in it.
func newGate(v gate.Verifier, d gate.Decider, cfg Config, reg *prometheus.Registry) *gate.Gate {
	return gate.New(v, d,
		gate.WithPathRules(cfg.Faces.Paths),
		gate.WithObserver(api.NewDecisionMetrics(reg)),
		gate.WithAllowCheck(denial.CheckIdentity))
}

// applyFaces sets the forward-auth, proxy and admin options from cfg.
func applyFaces(o *api.Options, cfg Config) {
	o.TrustedProxies = cfg.Faces.TrustedProxies
	o.SeparateAdmin = cfg.Faces.AdminAddr != ""
	if u := cfg.Faces.UpstreamURL; u != nil {
		o.Proxy = &api.ProxyOptions{Upstream: u, Timeout: cfg.Faces.UpstreamTimeout, StripToken: cfg.Faces.UpstreamStripToken}
	}
}

// startAdmin serves /healthz, /readyz and /metrics on ADMIN_ADDR when it
// is set; the returned function shuts it down (a no-op otherwise).
func startAdmin(ctx context.Context, cfg Config, o api.Options, logger *slog.Logger) (func(context.Context) error, error) {
	if cfg.Faces.AdminAddr == "" {
		return func(context.Context) error { return nil }, nil
	}
	ln, err := net.Listen("tcp", cfg.Faces.AdminAddr)
	if err != nil {
		return nil, fmt.Errorf("ADMIN_ADDR: %w", err)
	}
	srv := &http.Server{
		Handler:           api.NewAdminServer(o),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("admin listener", "err", err)
		}
	}()
	logger.Info("admin listening", "addr", ln.Addr().String())
	return srv.Shutdown, nil
}
