package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/util"

	"github.com/policygate/policygate/internal/api"
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

	// Issuers are AUTH_CONFIG's issuers, or the one of Issuer, Audience
	// (AUTH_AUDIENCE as given, comma-separated) and JWKSURL.
	Issuers []issuerConfig

	// OPAConfig is OPA_CONFIG's content, ${VAR}s expanded (fleet mode:
	// bundles from a server instead of PolicyDir).
	OPAConfig []byte
	// DecisionLog is "stdout" or "" (off).
	DecisionLog string
	// DecisionCacheSize is authz.Config.DecisionCacheSize: 0 for the
	// default size, negative for off (DECISION_CACHE_SIZE=0).
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
	policyTestDirSuffix  = "_test"
	maxOPAConfigBytes    = 1 << 20
	maxClockSkew         = 5 * time.Minute
	maxDecisionCacheSize = 1_000_000
	// devCORSOrigin is where Auth0's single-page-app quickstarts run.
	devCORSOrigin = "http://localhost:3000"
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

	// Policy: a folder, the embedded copy, or bundles (OPA_CONFIG).
	fleet := env("OPA_CONFIG") != ""
	if path := env("OPA_CONFIG"); fleet {
		config, err := readOPAConfig(path, getenv)
		if err != nil {
			bad("OPA_CONFIG", "%v", err)
		}
		if env("POLICY_DIR") != "" {
			bad("OPA_CONFIG", "set POLICY_DIR or OPA_CONFIG, not both: OPA_CONFIG's bundles replace the policy folder")
		}
		c.OPAConfig = config
	} else if dir := env("POLICY_DIR"); dir != "" {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			bad("POLICY_DIR", "%q is not a readable folder", dir)
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
			c.PolicyTestDirs, err = policyTestDirs(c.PolicyDir)
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

	if v := env("DECISION_CACHE_SIZE"); v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil || n < 0 || n > maxDecisionCacheSize:
			bad("DECISION_CACHE_SIZE", "%q is not a number of decisions from 0 (off) to %d", v, maxDecisionCacheSize)
		case n == 0:
			c.DecisionCacheSize = -1
		default:
			c.DecisionCacheSize = n
		}
	}

	if v := env("CORS_ALLOWED_ORIGINS"); v != "" {
		for _, o := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
			if !api.ValidateCORSOrigin(o) {
				bad("CORS_ALLOWED_ORIGINS", "%q is not an origin such as https://app.example.com (or *)", o)
			}
			c.CORSOrigins = append(c.CORSOrigins, o)
		}
		if len(c.CORSOrigins) > 1 && slices.Contains(c.CORSOrigins, "*") {
			bad("CORS_ALLOWED_ORIGINS", `"*" allows every origin; list origins or use "*" alone`)
		}
	} else if dev {
		c.CORSOrigins = []string{devCORSOrigin}
	}

	var opsErrs []error
	c.opsConfig, opsErrs = opsConfigFromEnv(getenv, dev)
	errs = append(errs, opsErrs...)
	loadFaces(&c.Faces, env, dev, bad)
	if c.Faces.UpstreamURL != nil && env("CORS_ALLOWED_ORIGINS") == "" {
		c.CORSOrigins = nil // proxy mode: the upstream answers its own preflights
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

	c.GRPC = loadGRPCConfig(env, dev, bad)

	if dev {
		// Dev mode is its own issuer; real provider settings do not apply.
		return c, errors.Join(errs...)
	}
	if path := env("AUTH_CONFIG"); path != "" {
		c.Issuers = loadAuthConfig(path, c.Algorithms, env, bad)
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
	c.Issuers = envIssuer(c, bad)
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

// readOPAConfig reads an OPA configuration file (YAML or JSON) and expands
// its ${VAR}s from getenv, as `opa run` does (the SDK does not): only the
// braced form, so $VAR and $$ stay as written and a "$" in a credential
// survives. A variable that is not set is an error, not an empty string: a
// missing bundle credential should stop the server, not make every
// download fail.
func readOPAConfig(path string, getenv func(string) string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(raw) > maxOPAConfigBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxOPAConfigBytes)
	}
	var unset []string
	expanded := bracedVarRE.ReplaceAllStringFunc(string(raw), func(ref string) string {
		name := ref[2 : len(ref)-1]
		v := getenv(name)
		if v == "" && !slices.Contains(unset, name) {
			unset = append(unset, name)
		}
		return v
	})
	if len(unset) > 0 {
		return nil, fmt.Errorf("%s uses unset variables: %s", path, strings.Join(unset, ", "))
	}
	var m map[string]any
	if err := util.Unmarshal([]byte(expanded), &m); err != nil {
		return nil, fmt.Errorf("%s is not YAML or JSON: %v", path, err)
	}
	if m["bundles"] == nil && m["discovery"] == nil {
		return nil, fmt.Errorf("%s configures no bundles (nor discovery): no policy would ever load", path)
	}
	return []byte(expanded), nil
}

// bracedVarRE matches ${NAME}, the one form of variable that OPA's own
// configuration loader expands.
var bracedVarRE = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*\}`)

// policyTestDirs is the folder beside a policy folder holding its tests
// (policies -> policies_test), if it exists. It is an error when neither
// it nor the policy folder holds a *_test.rego file: a guard that runs no
// test would let every version through.
func policyTestDirs(policyDir string) ([]string, error) {
	sibling := filepath.Clean(policyDir) + policyTestDirSuffix
	var dirs []string
	if fi, err := os.Stat(sibling); err == nil && fi.IsDir() {
		dirs = append(dirs, sibling)
	}
	for _, dir := range append([]string{policyDir}, dirs...) {
		found := false
		filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(d.Name(), "_test.rego") {
				found = true
				return filepath.SkipAll
			}
			return nil
		})
		if found {
			return dirs, nil
		}
	}
	return nil, fmt.Errorf("no *_test.rego file in %s or %s", policyDir, sibling)
}
