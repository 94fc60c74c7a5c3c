// Package authz is the embedded Open Policy Agent: it loads and compiles the
// policy through OPA's SDK (the standard bundle plugin and configuration)
// and answers one question per request, Decide. It knows nothing of HTTP.
package authz

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"slices"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/logging"
	"github.com/open-policy-agent/opa/v1/sdk"
)

// Input is what the policy sees about one request.
type Input struct {
	Method string
	Path   []string       // unescaped segments
	Claims map[string]any // verified token payload; nil when unauthenticated
	Scopes []string       // granted scopes; meaningful only with Claims
}

// Decision is the policy's answer.
type Decision struct {
	ID             string // decision id, also in the decision log
	Allowed        bool
	Reason         string
	RequiredScopes []string
	MissingScopes  []string
}

// Config selects where the policy comes from.
type Config struct {
	// PolicyDir is a folder of .rego files and data.json, loaded as a bundle.
	PolicyDir string
	// OPAConfig, when set, is a complete OPA configuration (services,
	// bundles, decision_logs, status) used instead of PolicyDir.
	OPAConfig []byte
	Logger    *slog.Logger
}

// Engine evaluates data.authz.decision.
type Engine struct {
	opa      *sdk.OPA
	ready    chan struct{}
	logger   *slog.Logger
	revision atomic.Value // string
}

// New starts the OPA SDK. It returns at once; Ready closes when the first
// policy is active. Decide denies until then.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	config := cfg.OPAConfig
	if config == nil {
		var err error
		if config, err = folderConfig(cfg.PolicyDir); err != nil {
			return nil, err
		}
	}
	e := &Engine{ready: make(chan struct{}), logger: logger}
	e.revision.Store("")
	opa, err := sdk.New(ctx, sdk.Options{
		ID:            "policygate",
		Config:        bytes.NewReader(config),
		Logger:        logging.NewLoggerFromSlogHandler(logger.Handler(), logging.Info),
		ConsoleLogger: logging.NewLoggerFromSlogHandler(logger.Handler(), logging.Info),
		Ready:         e.ready,
		RegoVersion:   ast.RegoV1,
	})
	if err != nil {
		return nil, fmt.Errorf("start policy engine: %w", err)
	}
	e.opa = opa
	return e, nil
}

// folderConfig is the OPA configuration that loads dir as a bundle.
func folderConfig(dir string) ([]byte, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("policy dir: %w", err)
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}
	return json.Marshal(map[string]any{
		"bundles": map[string]any{
			"authz": map[string]any{"resource": u.String(), "trigger": "manual"},
		},
	})
}

// Ready is closed once a policy is active.
func (e *Engine) Ready() <-chan struct{} { return e.ready }

// SetRevision records the active policy's revision for logs.
func (e *Engine) SetRevision(rev string) { e.revision.Store(rev) }

// Revision is the active policy's revision, "" when unknown.
func (e *Engine) Revision() string { return e.revision.Load().(string) }

// Stop shuts the SDK down.
func (e *Engine) Stop(ctx context.Context) { e.opa.Stop(ctx) }

// ErrNotReady: no policy is active yet.
var ErrNotReady = errors.New("no policy is active")

// Decide evaluates the policy for in. Any error, and any result that is not
// a well-typed decision, is returned as an error: callers must deny.
func (e *Engine) Decide(ctx context.Context, in Input) (Decision, error) {
	select {
	case <-e.ready:
	default:
		return Decision{}, ErrNotReady
	}
	res, err := e.opa.Decision(ctx, sdk.DecisionOptions{Path: DecisionPath, Input: inputValue(in)})
	if err != nil {
		return Decision{}, fmt.Errorf("evaluate %s: %w", DecisionPath, err)
	}
	d, err := decodeDecision(res.Result)
	if err != nil {
		return Decision{}, fmt.Errorf("evaluate %s: %w", DecisionPath, err)
	}
	d.ID = res.ID
	return d, nil
}

// inputValue builds the policy input as an AST value directly, sparing OPA
// a reflection pass over Go values for everything but the claims.
func inputValue(in Input) ast.Value {
	path := make([]*ast.Term, len(in.Path))
	for i, s := range in.Path {
		path[i] = ast.StringTerm(s)
	}
	terms := [][2]*ast.Term{
		{ast.InternedTerm("method"), ast.StringTerm(in.Method)},
		{ast.InternedTerm("path"), ast.ArrayTerm(path...)},
	}
	if in.Claims != nil {
		claims, err := ast.InterfaceToValue(in.Claims)
		if err == nil {
			scopes := make([]*ast.Term, len(in.Scopes))
			for i, s := range in.Scopes {
				scopes[i] = ast.StringTerm(s)
			}
			terms = append(terms,
				[2]*ast.Term{ast.InternedTerm("claims"), ast.NewTerm(claims)},
				[2]*ast.Term{ast.InternedTerm("scopes"), ast.ArrayTerm(scopes...)},
			)
		}
	}
	return ast.NewObject(terms...)
}

func decodeDecision(result any) (Decision, error) {
	m, ok := result.(map[string]any)
	if !ok {
		return Decision{}, fmt.Errorf("decision is %T, want an object", result)
	}
	allowed, ok := m["allowed"].(bool)
	if !ok {
		return Decision{}, errors.New(`decision has no boolean "allowed"`)
	}
	reason, _ := m["reason"].(string)
	required, err := stringList(m, "required_scopes")
	if err != nil {
		return Decision{}, err
	}
	missing, err := stringList(m, "missing_scopes")
	if err != nil {
		return Decision{}, err
	}
	return Decision{Allowed: allowed, Reason: reason, RequiredScopes: required, MissingScopes: missing}, nil
}

func stringList(m map[string]any, key string) ([]string, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("decision %q is %T, want an array", key, v)
	}
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, ok := x.(string)
		if !ok {
			return nil, fmt.Errorf("decision %q holds %T, want strings", key, x)
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out, nil
}
