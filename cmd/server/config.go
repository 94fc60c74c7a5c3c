package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/policygate/policygate/internal/api"
	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/authz"
	"github.com/policygate/policygate/internal/policy"
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

	// Issuers are AUTH_CONFIG's issuers, or the one of Issuer, Audience
	// (AUTH_AUDIENCE as given, comma-separated) and JWKSURL.
	Issuers []issuerConfig

	// OPAConfig is OPA_CONFIG's content, ${VAR}s expanded (fleet mode:
	// bundles from a server instead of PolicyDir).
	OPAConfig []byte
	// DecisionLog is "stdout" or "" (off).
	DecisionLog string
	// DecisionCacheSize is authz.Config.DecisionCacheSize: 0 is off, as in
	// DECISION_CACHE_SIZE.
	DecisionCacheSize int
	// PolicyTestsMustPass guards folder reloads with the policy's Rego
	// tests, found in PolicyTestDirs and as *_test.rego in PolicyDir.
	PolicyTestsMustPass bool
	PolicyTestDirs      []string

	// CORSOrigins may call the API from a browser (CORS_ALLOWED_ORIGINS).
	CORSOrigins []string

	opsConfig
	// Faces: forward-auth, proxy mode, admin listener, path rules (faces.go).
	Faces FacesConfig
	GRPC  grpcConfig // Envoy's gRPC face (grpc.go)
}

const (
	defaultListenAddr    = ":3010"
	defaultDevListenAddr = "127.0.0.1:3010"
	defaultPolicyDir     = "policies"
	maxClockSkew         = 5 * time.Minute
	maxDecisionCacheSize = 1_000_000
	// devCORSOrigin is where Auth0's single-page-app quickstarts run.
	devCORSOrigin = "http://localhost:3000"
)

// badFunc records one problem with a variable.
type badFunc func(variable, format string, args ...any)

// each records every error joined in err (errors.Join) as its own line.
func (bad badFunc) each(variable string, err error) {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			bad(variable, "%v", e)
		}
	} else if err != nil {
		bad(variable, "%v", err)
	}
}

// loadConfig fills a Config from getenv, applies defaults and the Auth0
// aliases, and reports every problem at once, one per line, each naming
// its variable. Each setting's grammar is its package's; this composes.
func loadConfig(getenv func(string) string, dev bool) (Config, error) {
	return loadSettings(getenv, dev, true)
}

// loadDecideConfig is loadConfig for server decide, which opens no
// listener: the settings of listeners (LISTEN_ADDR, TLS_*, GRPC_*,
// ADMIN_ADDR, SHUTDOWN_DELAY) are not read, so that a problem with them
// does not stop a command they do not apply to. What changes decisions
// (tokens, policy, path rules, proxy mode) is read as the server reads it.
func loadDecideConfig(getenv func(string) string) (Config, error) {
	return loadSettings(getenv, false, false)
}

// loadSettings is loadConfig, with the listeners' settings or without.
func loadSettings(getenv func(string) string, dev, listeners bool) (Config, error) {
	c := Config{Dev: dev}
	var errs []error
	bad := badFunc(func(variable, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", variable, fmt.Sprintf(format, args...)))
	})
	env := func(name string) string { return strings.TrimSpace(getenv(name)) }

	if listeners {
		loadListen(&c, env, bad)
	}
	loadPolicy(&c, env, getenv, bad)
	loadCORS(&c, env, bad)
	var opsErrs []error
	if listeners {
		c.opsConfig, opsErrs = opsConfigFromEnv(getenv, dev)
	} else {
		c.LogFormat, opsErrs = logFormatFromEnv(getenv)
	}
	errs = append(errs, opsErrs...)
	loadFaces(&c.Faces, env, dev, bad)
	if listeners {
		loadAdmin(&c.Faces, env, dev, bad)
	}
	if c.Faces.UpstreamURL != nil && env("CORS_ALLOWED_ORIGINS") == "" {
		c.CORSOrigins = nil // proxy mode: the upstream answers its own preflights
	}
	c.LogLevel = parseLogLevel(env("LOG_LEVEL"), bad)
	loadTokenRules(&c, env, bad)
	if listeners {
		c.GRPC = loadGRPCConfig(env, dev, bad)
	}

	switch {
	case dev:
		// Dev mode is its own issuer; real provider settings do not apply.
	case env("AUTH_CONFIG") != "":
		c.Issuers = loadAuthConfig(env("AUTH_CONFIG"), c.Algorithms, env, bad)
	default:
		loadIssuer(&c, env, bad)
		c.Issuers = envIssuer(c, bad)
	}
	return c, errors.Join(errs...)
}

// loadListen reads LISTEN_ADDR: loopback only in dev mode.
func loadListen(c *Config, env func(string) string, bad badFunc) {
	c.ListenAddr = env("LISTEN_ADDR")
	if c.ListenAddr == "" {
		c.ListenAddr = defaultListenAddr
		if c.Dev {
			c.ListenAddr = defaultDevListenAddr
		}
	}
	if host, _, err := net.SplitHostPort(c.ListenAddr); err != nil {
		bad("LISTEN_ADDR", "%q is not host:port (e.g. :3010 or 127.0.0.1:3010)", c.ListenAddr)
	} else if c.Dev && !authn.IsLoopbackHost(host) {
		bad("LISTEN_ADDR", "dev mode listens on loopback only (e.g. 127.0.0.1:3010), not %q", c.ListenAddr)
	}
}

// loadPolicy reads where the policy comes from (a folder, the embedded
// copy, or bundles from OPA_CONFIG), its test guard, decision logs and the
// decision cache.
func loadPolicy(c *Config, env, getenv func(string) string, bad badFunc) {
	fleet := env("OPA_CONFIG") != ""
	if path := env("OPA_CONFIG"); fleet {
		config, err := authz.ReadOPAConfig(path, getenv)
		if err != nil {
			bad("OPA_CONFIG", "%v", err)
		}
		if env("POLICY_DIR") != "" {
			bad("OPA_CONFIG", "set POLICY_DIR or OPA_CONFIG, not both: OPA_CONFIG's bundles replace the policy folder")
		}
		c.OPAConfig = config
	} else if dir := env("POLICY_DIR"); dir != "" {
		if err := readableFolder(dir); err != nil {
			bad("POLICY_DIR", "%q is not a readable folder: %v", dir, err)
		}
		c.PolicyDir = dir
	} else if fi, err := os.Stat(defaultPolicyDir); err == nil && fi.IsDir() {
		c.PolicyDir = defaultPolicyDir
	}
	if v := env("POLICY_TESTS_MUST_PASS"); v != "" {
		must, err := strconv.ParseBool(v)
		switch {
		case err != nil:
			bad("POLICY_TESTS_MUST_PASS", "%q is not true or false", v)
		case !must:
		case fleet:
			bad("POLICY_TESTS_MUST_PASS", "guards a policy folder; with OPA_CONFIG, run opa test before opa build")
		case c.PolicyDir == "":
			bad("POLICY_TESTS_MUST_PASS", "needs a policy folder (POLICY_DIR or ./policies); the embedded policy is tested when built")
		default:
			c.PolicyTestsMustPass = true
			c.PolicyTestDirs, err = policy.TestDirs(c.PolicyDir)
			if err != nil {
				bad("POLICY_TESTS_MUST_PASS", "%v", err)
			}
		}
	}
	switch v := strings.ToLower(env("DECISION_LOG")); v {
	case "", "off":
	case "stdout":
		c.DecisionLog = v
	default:
		bad("DECISION_LOG", "%q is not stdout or off (a log service goes in OPA_CONFIG's decision_logs)", v)
	}
	c.DecisionCacheSize = authz.DefaultDecisionCacheSize
	if v := env("DECISION_CACHE_SIZE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxDecisionCacheSize {
			bad("DECISION_CACHE_SIZE", "%q is not a number of decisions from 0 (off) to %d", v, maxDecisionCacheSize)
		} else {
			c.DecisionCacheSize = n
		}
	}
}

// readableFolder is nil when this process can list dir: a stat alone
// passes a folder the server's user may not read, which then failed later
// as a watch error that named no setting.
func readableFolder(dir string) error {
	_, err := os.ReadDir(dir)
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
		return pe.Err // the message names dir already
	}
	return err
}

// loadCORS reads CORS_ALLOWED_ORIGINS (api's grammar); dev mode allows
// Auth0's quickstart origin when it is unset.
func loadCORS(c *Config, env func(string) string, bad badFunc) {
	if v := env("CORS_ALLOWED_ORIGINS"); v != "" {
		var err error
		c.CORSOrigins, err = api.ParseCORSOrigins(v)
		bad.each("CORS_ALLOWED_ORIGINS", err)
	} else if c.Dev {
		c.CORSOrigins = []string{devCORSOrigin}
	}
}

// parseLogLevel reads LOG_LEVEL; info when unset.
func parseLogLevel(lvl string, bad badFunc) slog.Level {
	switch lvl = strings.ToLower(lvl); lvl {
	case "", "info":
		return slog.LevelInfo
	case "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	bad("LOG_LEVEL", "%q is not one of debug, info, warn, error", lvl)
	return slog.LevelInfo
}

// loadTokenRules reads AUTH_ALGORITHMS (authn's grammar; RS256 when
// unset) and AUTH_CLOCK_SKEW.
func loadTokenRules(c *Config, env func(string) string, bad badFunc) {
	c.Algorithms = []string{"RS256"}
	if v := env("AUTH_ALGORITHMS"); v != "" {
		var err error
		c.Algorithms, err = authn.ParseAlgorithms(v)
		bad.each("AUTH_ALGORITHMS", err)
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
}

// loadIssuer reads the one provider of AUTH_ISSUER, AUTH_AUDIENCE and
// AUTH_JWKS_URL, with Auth0's aliases AUTH0_DOMAIN and AUTH0_AUDIENCE.
func loadIssuer(c *Config, env func(string) string, bad badFunc) {
	issuer, audience, jwksURL := env("AUTH_ISSUER"), env("AUTH_AUDIENCE"), env("AUTH_JWKS_URL")
	domainRefused := false // its own line says why; "required" would mislead
	if domain := env("AUTH0_DOMAIN"); domain != "" {
		d, err := auth0Domain(domain)
		if err != nil {
			bad("AUTH0_DOMAIN", "%v", err)
			domainRefused = true
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
	case issuer == "" && domainRefused:
	case issuer == "":
		bad("AUTH_ISSUER", "required (or AUTH0_DOMAIN), e.g. https://tenant.example.com/; or run with --dev")
	default:
		if err := authn.CheckIssuer(issuer); err != nil {
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
