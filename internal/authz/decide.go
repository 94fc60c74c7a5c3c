package authz

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/server"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// Input is what the policy sees about one request.
//
// The policy sees {"method", "path", "authenticated", "claims"?,
// "scopes"?}: authenticated is true exactly when Claims is set, and claims
// and scopes are present only then.
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

// ErrNotReady: no policy is active yet.
var ErrNotReady = errors.New("no policy is active")

var decisionQuery = decisionRef.String()

// evaluator is the evaluation side of the engine: a query prepared once per
// compiled policy, evaluated against the plugin manager's store and
// compiler. It replaces sdk.OPA.Decision, which (OPA v1.22.3) bakes the
// first decision's rule tracker into its cached prepared query and so
// races between concurrent decisions.
type evaluator struct {
	mu       sync.Mutex // serializes preparation only
	prepared atomic.Pointer[preparedQuery]
}

type preparedQuery struct {
	compiler *ast.Compiler
	query    rego.PreparedEvalQuery
	use      inputUse // what this policy reads of the input
}

// Decide evaluates the policy for in. Any error, and any result that is not
// a well-typed decision, is returned as an error: callers must deny.
//
// A decision reads one transaction of the SDK's store: an activation
// commits while no reader holds one, and installs its compiler inside that
// commit, so a decision sees the old policy or the new one whole, never a
// mix and never none.
//
// How decisions get logged: when the decision_logs plugin is configured
// (DECISION_LOG=stdout or OPA_CONFIG's decision_logs), each decision is
// handed to it before the transaction closes, exactly as sdk.OPA.Decision
// does: decision id, path, input, result, bundle revisions, timestamp and
// metrics. The plugin applies data.system.log.mask (in that same
// transaction, so the mask of the deciding policy version) and writes the
// event to the console logger or its service. The decision id returned
// here is the logged decision_id.
func (e *Engine) Decide(ctx context.Context, in Input) (Decision, error) {
	select {
	case <-e.ready:
	default:
		return Decision{}, ErrNotReady
	}
	id, err := newDecisionID()
	if err != nil {
		return Decision{}, err
	}
	var record *server.Info
	if e.decisionLog != nil {
		record = &server.Info{DecisionID: id, Path: DecisionPath, Timestamp: time.Now().UTC(), Metrics: metrics.New()}
		record.Metrics.Timer(metrics.SDKDecisionEval).Start()
	}

	store := e.manager.Store
	txn, err := store.NewTransaction(ctx, storage.TransactionParams{})
	if err != nil {
		return Decision{}, fmt.Errorf("evaluate %s: %w", DecisionPath, err)
	}
	defer store.Abort(ctx, txn)
	pq, err := e.preparedFor(ctx, txn)
	if err != nil {
		return Decision{}, fmt.Errorf("evaluate %s: %w", DecisionPath, err)
	}

	// The decision cache (decisioncache.go). The version changes inside
	// every commit of a policy or data change, and no commit happens while
	// txn is open, so a decision made here belongs to this version.
	cache := e.decisions
	if record != nil || !pq.use.cacheable {
		cache = nil // every decision is evaluated (and logged)
	}
	var key ast.Value
	var hash int
	version := e.version.Load()
	if cache != nil {
		if key, err = pq.use.key(in); err != nil {
			return Decision{}, fmt.Errorf("evaluate %s: %w", DecisionPath, err)
		}
		hash = key.Hash()
		if d, ok := cache.get(key, hash, version); ok {
			observeCacheHit(ctx)
			d.ID = id
			d.RequiredScopes, d.MissingScopes = slices.Clone(d.RequiredScopes), slices.Clone(d.MissingScopes)
			return d, nil
		}
	}

	input, err := inputValue(in)
	if err != nil {
		return Decision{}, fmt.Errorf("evaluate %s: %w", DecisionPath, err)
	}
	result, err := e.eval(ctx, pq, txn, input, record)
	if record != nil {
		if logErr := e.logDecision(ctx, txn, input, result, err, record); logErr != nil {
			// A decision that cannot be logged is not made: fail closed.
			return Decision{}, fmt.Errorf("decision log: %w", logErr)
		}
	}
	if err != nil {
		return Decision{}, fmt.Errorf("evaluate %s: %w", DecisionPath, err)
	}
	d, err := decodeDecision(result)
	if err != nil {
		return Decision{}, fmt.Errorf("evaluate %s: %w", DecisionPath, err)
	}
	if cache != nil && e.version.Load() == version {
		cache.put(key, hash, version, d)
	}
	d.ID = id
	return d, nil
}

func (e *Engine) eval(ctx context.Context, pq *preparedQuery, txn storage.Transaction, input ast.Value, record *server.Info) (any, error) {
	opts := []rego.EvalOption{rego.EvalParsedInput(input), rego.EvalTransaction(txn)}
	var tracker *topdown.EvaluatedRuleTracker
	if record != nil {
		tracker = &topdown.EvaluatedRuleTracker{}
		opts = append(opts, rego.EvalTime(record.Timestamp), rego.EvalMetrics(record.Metrics), rego.EvalEvaluatedRuleTracker(tracker))
	}
	rs, err := pq.query.Eval(ctx, opts...)
	if tracker != nil {
		record.EvaluatedRuleLabels = tracker.Labels
	}
	switch {
	case err != nil:
		return nil, err
	case len(rs) == 0 || len(rs[0].Expressions) == 0:
		return nil, errors.New("decision is undefined")
	}
	return rs[0].Expressions[0].Value, nil
}

// preparedFor returns the query prepared for the compiler of the policy
// txn sees; the first decision after an activation prepares it.
func (e *Engine) preparedFor(ctx context.Context, txn storage.Transaction) (*preparedQuery, error) {
	compiler := e.manager.GetCompiler()
	if p := e.evaluator.prepared.Load(); p != nil && p.compiler == compiler {
		return p, nil
	}
	e.evaluator.mu.Lock()
	defer e.evaluator.mu.Unlock()
	if p := e.evaluator.prepared.Load(); p != nil && p.compiler == compiler {
		return p, nil
	}
	pq, err := rego.New(
		rego.Query(decisionQuery),
		rego.Compiler(compiler),
		rego.Store(e.manager.Store),
		rego.Transaction(txn), // never a second read transaction: it could wait on a pending commit forever
		rego.Runtime(e.manager.Info),
		rego.PrintHook(e.manager.PrintHook()),
		rego.EnablePrintStatements(e.manager.EnablePrintStatements()),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, err
	}
	p := &preparedQuery{compiler: compiler, query: pq, use: analyzeInput(compiler)}
	if e.decisions != nil && !p.use.cacheable {
		e.logger.Info("decision cache off for this policy", "why", p.use.why)
	}
	e.evaluator.prepared.Store(p)
	return p, nil
}

// logDecision hands one decision to the decision_logs plugin, in the shape
// sdk.OPA.Decision gives it.
func (e *Engine) logDecision(ctx context.Context, txn storage.Transaction, input ast.Value, result any, evalErr error, record *server.Info) error {
	record.Metrics.Timer(metrics.SDKDecisionEval).Stop()
	record.Txn = txn
	record.Error = evalErr
	inputJSON, err := ast.JSON(input)
	if err != nil {
		return err
	}
	record.Input, record.InputAST = &inputJSON, input
	if evalErr == nil {
		record.Results = &result
	}
	names, err := bundle.ReadBundleNamesFromStore(ctx, e.manager.Store, txn)
	if err != nil && !storage.IsNotFound(err) {
		return err
	}
	record.Bundles = make(map[string]server.BundleInfo, len(names))
	for _, name := range names {
		rev, err := bundle.ReadBundleRevisionFromStore(ctx, e.manager.Store, txn, name)
		if err != nil && !storage.IsNotFound(err) {
			return err
		}
		record.Bundles[name] = server.BundleInfo{Revision: rev}
	}
	return e.decisionLog.Log(ctx, record)
}

// newDecisionID returns a random (version 4) UUID, as OPA's ids are.
func newDecisionID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("decision id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:]), nil
}

// inputValue builds the policy input as an AST value directly, sparing OPA
// a reflection pass over Go values for everything but the claims.
func inputValue(in Input) (ast.Value, error) {
	terms := [][2]*ast.Term{
		{ast.InternedTerm("method"), ast.StringTerm(in.Method)},
		{ast.InternedTerm("path"), ast.NewTerm(stringArray(in.Path, nil))},
		{ast.InternedTerm("authenticated"), ast.InternedTerm(in.Claims != nil)},
	}
	if in.Claims != nil {
		claims, err := ast.InterfaceToValue(in.Claims)
		if err != nil {
			return nil, fmt.Errorf("claims: %w", err)
		}
		terms = append(terms,
			[2]*ast.Term{ast.InternedTerm("claims"), ast.NewTerm(claims)},
			[2]*ast.Term{ast.InternedTerm("scopes"), ast.NewTerm(stringArray(in.Scopes, nil))},
		)
	}
	return ast.NewObject(terms...), nil
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
