package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/policygate/policygate/internal/api"
	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/redact"
)

// issuerConfig is one trusted issuer: from AUTH_CONFIG's list, or the one
// that AUTH_ISSUER (or AUTH0_DOMAIN), AUTH_AUDIENCE and AUTH_JWKS_URL name.
type issuerConfig struct {
	Issuer     string   `yaml:"issuer"`
	Audiences  []string `yaml:"audiences"`
	Algorithms []string `yaml:"algorithms"` // default: AUTH_ALGORITHMS
	JWKSURL    string   `yaml:"jwks_url"`   // "" means discover from Issuer
}

// authConfigFile is AUTH_CONFIG's content (YAML, or JSON).
type authConfigFile struct {
	Issuers []issuerConfig `yaml:"issuers"`
}

const maxAuthConfigBytes = 1 << 20

// loadAuthConfig reads the issuers of the AUTH_CONFIG file at path. Issuers
// without algorithms get algorithms (AUTH_ALGORITHMS). Every problem is
// reported through bad, naming AUTH_CONFIG.
func loadAuthConfig(path string, algorithms []string, env func(string) string, bad func(variable, format string, args ...any)) []issuerConfig {
	for _, name := range []string{"AUTH_ISSUER", "AUTH0_DOMAIN", "AUTH_JWKS_URL", "AUTH_AUDIENCE", "AUTH0_AUDIENCE"} {
		if env(name) != "" {
			bad("AUTH_CONFIG", "set AUTH_CONFIG or %s, not both: the file lists every issuer with its audiences and keys", name)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		bad("AUTH_CONFIG", "%v", err)
		return nil
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxAuthConfigBytes+1))
	if err != nil {
		bad("AUTH_CONFIG", "%v", err) // a *PathError names the file already
		return nil
	}
	if len(raw) > maxAuthConfigBytes {
		bad("AUTH_CONFIG", "%s is larger than %d bytes", path, maxAuthConfigBytes)
		return nil
	}
	var file authConfigFile
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true) // a misspelt key must not silently drop a rule
	if err := dec.Decode(&file); err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("is empty")
		}
		// yaml lists each problem on a line of its own; the report has
		// one line per variable.
		msg := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
		msg = strings.ReplaceAll(msg, "in type main.", "in ")
		msg = strings.ReplaceAll(msg, "main.", "")
		var typeErr *yaml.TypeError
		if errors.As(err, &typeErr) {
			msg = strings.Replace(msg, "yaml: unmarshal errors:;", "unknown or mistyped key:", 1)
		} else {
			msg = strings.Replace(msg, "yaml: ", "not valid YAML or JSON: ", 1)
		}
		bad("AUTH_CONFIG", "%s: %s", path, msg)
		return nil
	}
	if len(file.Issuers) == 0 {
		bad("AUTH_CONFIG", "%s lists no issuers", path)
		return nil
	}
	seen := map[string]bool{}
	for i := range file.Issuers {
		ic := &file.Issuers[i]
		where := fmt.Sprintf("%s: issuers[%d]", path, i)
		if ic.Issuer == "" {
			bad("AUTH_CONFIG", "%s: issuer is required", where)
		} else if err := authn.CheckIssuer(ic.Issuer); err != nil {
			bad("AUTH_CONFIG", "%s: issuer: %v", where, err)
		}
		if seen[ic.Issuer] {
			bad("AUTH_CONFIG", "%s: issuer %q is listed twice", where, ic.Issuer)
		}
		seen[ic.Issuer] = true
		if len(ic.Audiences) == 0 || slices.Contains(ic.Audiences, "") {
			bad("AUTH_CONFIG", "%s: audiences must list at least one non-empty audience", where)
		}
		if ic.JWKSURL != "" {
			if err := authn.CheckKeyURL(ic.JWKSURL); err != nil {
				bad("AUTH_CONFIG", "%s: jwks_url: %v", where, err)
			}
		}
		if len(ic.Algorithms) == 0 {
			ic.Algorithms = slices.Clone(algorithms)
		}
		for _, a := range ic.Algorithms {
			if err := authn.CheckAlgorithm(a); err != nil {
				bad("AUTH_CONFIG", "%s: algorithms: %v", where, err)
			}
		}
	}
	return file.Issuers
}

// envIssuer is the one issuer of AUTH_ISSUER (or AUTH0_DOMAIN), the
// comma-separated AUTH_AUDIENCE and AUTH_JWKS_URL, already in c.
func envIssuer(c Config, bad func(variable, format string, args ...any)) []issuerConfig {
	var auds []string
	for _, a := range strings.Split(c.Audience, ",") {
		if a = strings.TrimSpace(a); a != "" && !slices.Contains(auds, a) {
			auds = append(auds, a)
		}
	}
	if c.Audience != "" && len(auds) == 0 {
		bad("AUTH_AUDIENCE", "%q lists no audience", c.Audience)
	}
	return []issuerConfig{{Issuer: c.Issuer, Audiences: auds, Algorithms: c.Algorithms, JWKSURL: c.JWKSURL}}
}

// realm is the challenge's realm: the first audience of the first issuer.
func (c Config) realm() string {
	if len(c.Issuers) == 0 || len(c.Issuers[0].Audiences) == 0 {
		return c.Audience
	}
	return c.Issuers[0].Audiences[0]
}

// issuerNames lists the configured issuers, for the start-up log.
func (c Config) issuerNames() []string {
	names := make([]string, len(c.Issuers))
	for i, ic := range c.Issuers {
		names[i] = ic.Issuer
	}
	return names
}

// auth is the verifier with one key set per issuer.
type auth struct {
	verifier *authn.Verifier
	issuers  []issuerConfig
	keys     []*authn.KeySet // same order as issuers
}

// startAuth starts one key set per issuer (running until ctx ends) and
// builds the verifier over them; its collector names each issuer.
func startAuth(ctx context.Context, cfg Config, logger *slog.Logger, reg *prometheus.Registry) (*auth, error) {
	a := &auth{issuers: cfg.Issuers}
	var trusted []authn.IssuerConfig
	for _, ic := range cfg.Issuers {
		keys := authn.NewKeySet(authn.KeySetConfig{JWKSURL: ic.JWKSURL, Issuer: ic.Issuer, Logger: logger.With("issuer", ic.Issuer)})
		go keys.Run(ctx)
		a.keys = append(a.keys, keys)
		trusted = append(trusted, authn.IssuerConfig{Issuer: ic.Issuer, Audiences: ic.Audiences, Algorithms: ic.Algorithms, Keys: keys})
	}
	v, err := authn.NewMultiIssuerVerifier(trusted, authn.VerifierConfig{ClockSkew: cfg.ClockSkew, CacheSize: authn.DefaultCacheSize})
	if err != nil {
		return nil, err
	}
	a.verifier = v
	reg.MustRegister(a)
	return a, nil
}

// readiness is the "keys" check: ready once every issuer's keys were
// fetched once; after that an issuer whose provider fails keeps its last
// keys (none, once it published a set without a usable key) and does not
// make the service unready. Details name each issuer.
func (a *auth) readiness() api.ReadinessCheck {
	return api.ReadinessCheck{
		Name: "keys",
		Check: func() error {
			var errs []error
			for i, keys := range a.keys {
				select {
				case <-keys.Ready():
					continue
				default:
				}
				if err := keys.LastError(); err != nil {
					errs = append(errs, fmt.Errorf("signing keys of %s not fetched yet: %s", a.issuers[i].Issuer, redact.URLs(err.Error())))
				} else {
					errs = append(errs, fmt.Errorf("signing keys of %s not fetched yet", a.issuers[i].Issuer))
				}
			}
			return errors.Join(errs...)
		},
		Details: func() map[string]any {
			d := map[string]any{}
			for i, keys := range a.keys {
				s := map[string]any{"ready": isClosed(keys.Ready()), "fetches": keys.Fetches()}
				if err := keys.LastError(); err != nil {
					s["last_error"] = redact.URLs(err.Error())
				}
				d[a.issuers[i].Issuer] = s
			}
			return d
		},
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

var (
	keysReadyDesc = prometheus.NewDesc("policygate_signing_keys_ready",
		"1 once the issuer's signing keys were fetched at least once.", []string{"issuer"}, nil)
	keysUpDesc = prometheus.NewDesc("policygate_signing_keys_last_fetch_ok",
		"1 when the issuer's latest key fetch succeeded (its last keys stay in use when it fails, unless it published a set without a usable key, which revokes them).", []string{"issuer"}, nil)
	keysFetchesDesc = prometheus.NewDesc("policygate_signing_keys_fetches_total",
		"Key set fetches started for the issuer (scheduled, retries and unknown kids).", []string{"issuer"}, nil)
)

// Describe and Collect export each issuer's key set state.
func (a *auth) Describe(ch chan<- *prometheus.Desc) {
	ch <- keysReadyDesc
	ch <- keysUpDesc
	ch <- keysFetchesDesc
}

func (a *auth) Collect(ch chan<- prometheus.Metric) {
	b := func(ok bool) float64 {
		if ok {
			return 1
		}
		return 0
	}
	for i, keys := range a.keys {
		iss := a.issuers[i].Issuer
		ch <- prometheus.MustNewConstMetric(keysReadyDesc, prometheus.GaugeValue, b(isClosed(keys.Ready())), iss)
		ch <- prometheus.MustNewConstMetric(keysUpDesc, prometheus.GaugeValue, b(isClosed(keys.Ready()) && keys.LastError() == nil), iss)
		ch <- prometheus.MustNewConstMetric(keysFetchesDesc, prometheus.CounterValue, float64(keys.Fetches()), iss)
	}
}
