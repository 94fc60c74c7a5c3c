package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/util"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/policygate/policygate/internal/api"
	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/authz"
	"github.com/policygate/policygate/internal/denial"
	"github.com/policygate/policygate/internal/gate"
	"github.com/policygate/policygate/internal/redact"
)

// keyFetchTimeout bounds decide's one fetch of the signing keys.
const keyFetchTimeout = 15 * time.Second

// decider evaluates requests offline: the policy the server would load,
// and the server's verifier when a token must be checked.
type decider struct {
	engine   *authz.Engine
	source   string
	verifier *authn.Verifier // nil unless a token is to be verified
	issuer   string
	realm    string
	metadata string // resource_metadata of challenges (PUBLIC_URL)
	cfg      Config
	cancel   context.CancelFunc
}

// decideCase is one request to decide.
type decideCase struct {
	method, path, host string
	token              string
	claims             []byte // a JSON object, or nil
}

// decideResult is what decide prints (--json: this object).
type decideResult struct {
	Method         string          `json:"method"`
	Path           string          `json:"path"`
	Host           string          `json:"host,omitempty"`
	Allowed        bool            `json:"allowed"`
	Status         int             `json:"status"`
	Error          string          `json:"error,omitempty"`
	Description    string          `json:"error_description,omitempty"`
	Challenge      string          `json:"www_authenticate,omitempty"`
	Reason         string          `json:"reason"`
	Routes         []string        `json:"routes"`
	RequiredScopes []string        `json:"required_scopes"`
	MissingScopes  []string        `json:"missing_scopes"`
	GrantedScopes  []string        `json:"granted_scopes"`
	Subject        string          `json:"subject,omitempty"`
	DecisionID     string          `json:"decision_id,omitempty"`
	Headers        []denial.Header `json:"headers,omitempty"`
	Removed        []string        `json:"removed_headers,omitempty"`
	Identity       string          `json:"identity"`
	Policy         struct {
		Source   string `json:"source"`
		Revision string `json:"revision"`
	} `json:"policy"`
	Result      map[string]any `json:"result,omitempty"`
	Input       any            `json:"input,omitempty"`
	Trace       string         `json:"trace,omitempty"`
	Prints      []string       `json:"prints,omitempty"`
	EngineError string         `json:"engine_error,omitempty"`
	explained   bool
}

// newDecider loads the policy as the server would and, when withToken,
// prepares the server's verifier with its signing keys fetched.
func newDecider(ctx context.Context, env func(string) string, bundleFile string, withToken bool) (*decider, error) {
	cfg, err := loadDecideConfig(env)
	if err = decideConfigErrors(err, withToken); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	disc, err := loadDiscoveryConfig(env, cfg)
	if err != nil {
		cancel()
		return nil, badInput("configuration: %s", oneLine(err))
	}
	d := &decider{cancel: cancel, issuer: strings.Join(cfg.issuerNames(), ", "), realm: cfg.realm(),
		metadata: (&api.ProtectedResource{PublicURL: disc.PublicURL}).MetadataURL(), cfg: cfg}
	if d.engine, d.source, err = startDecidePolicy(ctx, cfg, bundleFile); err != nil {
		cancel()
		return nil, err
	}
	if withToken {
		a, err := startAuth(ctx, cfg, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
		if err != nil {
			d.stop(ctx)
			return nil, badInput("%v", err)
		}
		deadline := time.After(keyFetchTimeout)
		for i, keys := range a.keys {
			select {
			case <-keys.Ready():
			case <-deadline:
				d.stop(ctx)
				return nil, badInput("fetch the signing keys of %s: %v", a.issuers[i].Issuer, keys.LastError())
			}
		}
		d.verifier = a.verifier
	}
	return d, nil
}

// decideConfigErrors keeps the configuration errors that matter to decide:
// the token settings only when a token is to be verified (the listeners'
// settings are not read at all).
func decideConfigErrors(err error, withToken bool) error {
	if err == nil {
		return nil
	}
	var kept []string
	for _, e := range unjoin(err) {
		msg := e.Error()
		if !withToken && strings.HasPrefix(msg, "AUTH") {
			continue
		}
		kept = append(kept, msg)
	}
	if len(kept) == 0 {
		return nil
	}
	return badInput("configuration: %s", strings.Join(kept, "; "))
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func (d *decider) stop(ctx context.Context) {
	d.cancel()
	d.engine.Stop(context.WithoutCancel(ctx))
}

// startDecidePolicy starts the engine on the server's policy source (or a
// bundle file) with nothing reported anywhere: no decision log, no status
// reports, no polling; bundles are downloaded once.
func startDecidePolicy(ctx context.Context, cfg Config, bundleFile string) (*authz.Engine, string, error) {
	src := policySource(cfg)
	source := "policy folder " + src.Folder()
	var err error
	switch {
	case bundleFile != "":
		abs, err := filepath.Abs(bundleFile)
		if fi, statErr := os.Stat(abs); err != nil || statErr != nil || !fi.Mode().IsRegular() {
			return nil, "", badInput("--bundle %s: not a readable bundle file (build one with opa build)", bundleFile)
		}
		u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}
		src = authz.Source{}
		src.OPAConfig, _ = json.Marshal(map[string]any{"bundles": map[string]any{
			"authz": map[string]any{"resource": u.String(), "trigger": "manual"},
		}})
		source = "bundle file " + bundleFile
	case src.Bundles():
		if src.OPAConfig, err = downloadOnce(src.OPAConfig); err != nil {
			return nil, "", badInput("OPA_CONFIG: %v", err)
		}
		source = "bundles from OPA_CONFIG (downloaded once)"
	case src.Embedded():
		source = "embedded policy"
	}
	engineCfg := authz.Config{TestsMustPass: cfg.PolicyTestsMustPass, TestDirs: cfg.PolicyTestDirs, DecisionCacheSize: -1}.WithSource(src)
	engineCfg.Audiences = configAudiences(cfg) // refuses what the server refuses
	engine, err := authz.New(ctx, engineCfg)
	if err != nil {
		return nil, "", badInput("%v", oneLine(err))
	}
	if src.Bundles() {
		// Manual triggers: this is the one download, and its error.
		if err := engine.Reload(ctx); err != nil {
			engine.Stop(context.WithoutCancel(ctx))
			return nil, "", badInput("%s: %v", source, redact.URLs(oneLine(err)))
		}
	}
	select {
	case <-engine.Ready():
	case <-time.After(policyLoadTimeout):
		msg := engine.Status().LastError
		engine.Stop(context.WithoutCancel(ctx))
		return nil, "", badInput("%s: no policy active after %s %s", source, policyLoadTimeout, redact.URLs(oneLine(errors.New(msg))))
	}
	return engine, source, nil
}

// downloadOnce rewrites an OPA configuration for one offline evaluation:
// every bundle is fetched when triggered (once), and nothing is reported
// (decision logs, status) to the configured services.
func downloadOnce(config []byte) ([]byte, error) {
	var m map[string]any
	if err := util.Unmarshal(config, &m); err != nil {
		return nil, err
	}
	delete(m, "decision_logs")
	delete(m, "status")
	if bundles, ok := m["bundles"].(map[string]any); ok {
		for _, b := range bundles {
			if b, ok := b.(map[string]any); ok {
				b["trigger"] = "manual"
			}
		}
	}
	return json.Marshal(m)
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}

// claimsVerifier hands the gate claims a person wrote: --claims skips
// verification.
type claimsVerifier struct{ claims *authn.Claims }

func (v claimsVerifier) Verify(context.Context, authn.Token) (*authn.Claims, error) {
	return v.claims, nil
}

// recorder keeps the input and decision the gate asked for.
type recorder struct {
	engine  *authz.Engine
	called  bool
	in      authz.Input
	outcome authz.Decision
	err     error
}

func (r *recorder) Decide(ctx context.Context, in authz.Input) (authz.Decision, error) {
	r.called, r.in = true, in
	r.outcome, r.err = r.engine.Decide(ctx, in)
	return r.outcome, r.err
}

// decide runs one case through the gate, as a face would, and explains it.
func (d *decider) decide(ctx context.Context, c decideCase, mode authz.ExplainMode) (decideResult, error) {
	res := decideResult{Method: c.method, Path: c.path, Identity: "anonymous (no token)"}
	res.Policy.Source, res.Policy.Revision = d.source, d.engine.Revision()
	rec := &recorder{engine: d.engine}
	var v gate.Verifier = d.verifier
	// PATH is a request target, as the faces read one: the query is split
	// off (never matched), and a _method parameter in it is refused.
	path, query := gate.SplitTarget(c.path)
	// In proxy mode the server decides with strict hosts (the client
	// picks the Host, not the service): so does decide, then.
	req := gate.Request{Method: c.method, Host: c.host, Path: path, StrictHosts: d.cfg.Faces.UpstreamURL != nil}
	switch {
	case c.claims != nil:
		claims, err := authn.UnverifiedClaims(c.claims)
		if err != nil {
			return res, badInput("%v", err)
		}
		v, req.Authorization = claimsVerifier{claims}, []string{"Bearer claims-file"}
	case c.token != "":
		req.Authorization = []string{"Bearer " + c.token}
	default:
		v = claimsVerifier{} // never asked: no credentials
	}
	// The server's gate: its path rules and identity check; its metrics
	// go nowhere.
	g := newGate(v, rec, d.cfg, prometheus.NewRegistry())
	var out gate.Outcome
	if gate.QueryOverridesMethod(query) {
		out = g.Refuse(gate.ReasonMethodOverride, gate.DescribeOverrideQuery)
	} else {
		out = g.Check(ctx, req)
	}
	res.Host = out.Host
	if c.token != "" {
		res.Identity = tokenIdentity(ctx, out, rec, d.verifier, c.token, d.issuer)
	}

	res.Allowed, res.Reason, res.Description = out.Kind == gate.Allowed, out.Reason, out.Description
	res.Subject, res.DecisionID, res.GrantedScopes = out.Subject, out.DecisionID, out.Granted
	var err error
	if rec.called {
		res.RequiredScopes, res.MissingScopes = rec.outcome.RequiredScopes, rec.outcome.MissingScopes
		if rec.err != nil {
			res.EngineError = oneLine(rec.err)
		}
		x, err := d.engine.Explain(ctx, rec.in, mode)
		if err != nil && res.EngineError == "" {
			res.EngineError = oneLine(err)
		}
		res.Result, res.Input, res.Trace, res.Prints = x.Result, x.Input, x.Trace, x.Prints
		res.Routes = rec.outcome.Routes
		res.explained = mode != authz.ExplainNone
	}
	if res.Allowed {
		res.Status = 200
		if res.Headers, res.Removed, err = denial.Identity(out); err != nil {
			// The faces turn such an allow into a 403.
			res.Allowed, res.Status, res.Error = false, 403, "access_denied"
			res.Description = "the identity cannot be sent as headers"
		}
	} else {
		r := denial.NewRenderer(d.realm, d.metadata).Render(out)
		var body denial.Body
		json.Unmarshal(r.Body, &body)
		res.Status, res.Challenge, res.Error, res.Description = r.Status, r.Challenge, body.Error, body.Description
	}
	for _, l := range []*[]string{&res.Routes, &res.RequiredScopes, &res.MissingScopes, &res.GrantedScopes} {
		if *l == nil {
			*l = []string{}
		}
	}
	return res, nil
}

// tokenIdentity says what became of the token of a case: verified (the
// policy saw it authenticated), refused and why (also when the request
// was decided without it, as a public route is), or never looked at (the
// request was refused before the token was).
func tokenIdentity(ctx context.Context, out gate.Outcome, rec *recorder, v gate.Verifier, token, issuer string) string {
	switch {
	case rec.called && (rec.in.Claims != nil || rec.in.ClaimSource != nil):
		return "token verified against " + issuer
	case out.Kind == gate.InvalidToken || out.Kind == gate.InvalidRequest:
		return "token refused: " + out.Description
	case rec.called:
		// Decided without the token: say why it did not count.
		if _, err := v.Verify(ctx, authn.Token(token)); err != nil {
			return "token refused: " + authn.Description(err) + " (the request was decided without it)"
		}
		return "token verified against " + issuer
	default:
		return "token not checked: the request was refused first"
	}
}
