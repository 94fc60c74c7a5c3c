package main

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/policygate/policygate/internal/authn"
)

// Config is the service's whole configuration, read once at start.
type Config struct {
	Issuer     string
	Audience   string
	JWKSURL    string // "" means discover from Issuer
	Algorithms []string
	ClockSkew  time.Duration
	ListenAddr string
	PolicyDir  string // "" means the copy embedded in the binary
	LogLevel   slog.Level
	Dev        bool
}

const (
	defaultListenAddr    = ":3010"
	defaultDevListenAddr = "127.0.0.1:3010"
	defaultPolicyDir     = "policies"
	maxClockSkew         = 5 * time.Minute
)

// loadConfig fills a Config from getenv, applies defaults and the Auth0
// aliases, and reports every problem at once, one per line, each naming
// its variable.
func loadConfig(getenv func(string) string, dev bool) (Config, error) {
	c := Config{Dev: dev}
	var errs []error
	bad := func(variable, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", variable, fmt.Sprintf(format, args...)))
	}
	env := func(name string) string { return strings.TrimSpace(getenv(name)) }

	// Listening.
	c.ListenAddr = env("LISTEN_ADDR")
	if c.ListenAddr == "" {
		c.ListenAddr = defaultListenAddr
		if dev {
			c.ListenAddr = defaultDevListenAddr
		}
	}
	if host, _, err := net.SplitHostPort(c.ListenAddr); err != nil {
		bad("LISTEN_ADDR", "%q is not host:port (e.g. :3010 or 127.0.0.1:3010)", c.ListenAddr)
	} else if dev && !authn.IsLoopbackHost(host) {
		bad("LISTEN_ADDR", "dev mode listens on loopback only (e.g. 127.0.0.1:3010), not %q", c.ListenAddr)
	}

	// Policy.
	if dir := env("POLICY_DIR"); dir != "" {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			bad("POLICY_DIR", "%q is not a readable folder", dir)
		}
		c.PolicyDir = dir
	} else if fi, err := os.Stat(defaultPolicyDir); err == nil && fi.IsDir() {
		c.PolicyDir = defaultPolicyDir
	}

	switch lvl := strings.ToLower(env("LOG_LEVEL")); lvl {
	case "", "info":
		c.LogLevel = slog.LevelInfo
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "warn", "warning":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		bad("LOG_LEVEL", "%q is not one of debug, info, warn, error", lvl)
	}

	// Token verification.
	c.Algorithms = []string{"RS256"}
	if v := env("AUTH_ALGORITHMS"); v != "" {
		c.Algorithms = nil
		for _, a := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
			switch {
			case strings.EqualFold(a, "none"):
				bad("AUTH_ALGORITHMS", `"none" is never accepted: unsigned tokens prove nothing`)
			case strings.HasPrefix(strings.ToUpper(a), "HS"):
				bad("AUTH_ALGORITHMS", "%q is not accepted: HMAC with a published key set lets anyone forge tokens", a)
			case !slices.Contains(authn.SupportedAlgorithms(), a):
				bad("AUTH_ALGORITHMS", "%q is not supported (use %s)", a, strings.Join(authn.SupportedAlgorithms(), ", "))
			default:
				if !slices.Contains(c.Algorithms, a) {
					c.Algorithms = append(c.Algorithms, a)
				}
			}
		}
		if len(c.Algorithms) == 0 && len(errs) == 0 {
			bad("AUTH_ALGORITHMS", "lists no algorithm")
		}
	}
	c.ClockSkew = 30 * time.Second
	if v := env("AUTH_CLOCK_SKEW"); v != "" {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			bad("AUTH_CLOCK_SKEW", "%q is not a duration (e.g. 30s)", v)
		case d < 0 || d > maxClockSkew:
			bad("AUTH_CLOCK_SKEW", "%s is outside 0s..%s", d, maxClockSkew)
		default:
			c.ClockSkew = d
		}
	}

	if dev {
		// Dev mode is its own issuer; real provider settings do not apply.
		return c, errors.Join(errs...)
	}

	issuer, audience, jwksURL := env("AUTH_ISSUER"), env("AUTH_AUDIENCE"), env("AUTH_JWKS_URL")
	if domain := env("AUTH0_DOMAIN"); domain != "" {
		d, err := auth0Domain(domain)
		if err != nil {
			bad("AUTH0_DOMAIN", "%v", err)
		} else {
			aliasIssuer := "https://" + d + "/"
			if issuer != "" && issuer != aliasIssuer {
				bad("AUTH_ISSUER", "%q contradicts AUTH0_DOMAIN (issuer %q); set one of them", issuer, aliasIssuer)
			}
			issuer = aliasIssuer
			if jwksURL == "" {
				jwksURL = aliasIssuer + ".well-known/jwks.json"
			}
		}
	}
	if a := env("AUTH0_AUDIENCE"); a != "" {
		if audience != "" && audience != a {
			bad("AUTH_AUDIENCE", "%q contradicts AUTH0_AUDIENCE %q; set one of them", audience, a)
		}
		audience = a
	}
	switch {
	case issuer == "":
		bad("AUTH_ISSUER", "required (or AUTH0_DOMAIN), e.g. https://tenant.example.com/; or run with --dev")
	default:
		if err := authn.CheckKeyURL(issuer); err != nil {
			bad("AUTH_ISSUER", "%v", err)
		}
	}
	if audience == "" {
		bad("AUTH_AUDIENCE", "required (or AUTH0_AUDIENCE): the API identifier tokens must be issued for")
	}
	if jwksURL != "" {
		if err := authn.CheckKeyURL(jwksURL); err != nil {
			bad("AUTH_JWKS_URL", "%v", err)
		}
	}
	c.Issuer, c.Audience, c.JWKSURL = issuer, audience, jwksURL
	return c, errors.Join(errs...)
}

// auth0Domain accepts "tenant.auth0.com", with or without https:// and a
// trailing slash, and returns the bare host.
func auth0Domain(v string) (string, error) {
	if strings.HasPrefix(v, "http://") {
		return "", fmt.Errorf("%q must be a domain such as tenant.us.auth0.com (https is implied)", v)
	}
	d := strings.TrimSuffix(strings.TrimPrefix(v, "https://"), "/")
	u, err := url.Parse("https://" + d + "/")
	if err != nil || u.Host != d || d == "" || strings.ContainsAny(d, "/?#@") {
		return "", fmt.Errorf("%q is not a domain such as tenant.us.auth0.com", v)
	}
	return d, nil
}

// withDotEnv returns a getenv that prefers the real environment and falls
// back to the KEY=VALUE lines of path (if it exists). The process
// environment is never modified.
func withDotEnv(getenv func(string) string, path string) (func(string) string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return getenv, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	values := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want KEY=VALUE", path, n)
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') && value[len(value)-1] == value[0] {
			value = value[1 : len(value)-1]
		}
		values[key] = value
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return func(name string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return values[name]
	}, nil
}
