package authz

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/server"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/topdown"

	"github.com/policygate/policygate/internal/policy"
)

// ErrNotReady: no policy is active yet.
var ErrNotReady = errors.New("no policy is active")

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
		record = &server.Info{DecisionID: id, Path: policy.Entrypoint, Timestamp: time.Now().UTC(), Metrics: metrics.New()}
		record.Metrics.Timer(metrics.SDKDecisionEval).Start()
	}
	d, err := e.decide(ctx, in, id, record)
	if err != nil && !errors.Is(err, errDecisionLog) {
		return Decision{}, fmt.Errorf("evaluate %s: %w", policy.Entrypoint, err)
	}
	return d, err
}

// errDecisionLog marks a decision that could not be logged, and so is not
// made: it is reported as itself, not as an evaluation error.
var errDecisionLog = errors.New("decision log")

// decide is Decide once the decision has its id (and record when decision
// logging is on); Decide names the entrypoint in its errors.
func (e *Engine) decide(ctx context.Context, in Input, id string, record *server.Info) (Decision, error) {
	store := e.manager.Store
	txn, err := store.NewTransaction(ctx, storage.TransactionParams{})
	if err != nil {
		return Decision{}, err
	}
	defer store.Abort(ctx, txn)
	pq, err := e.preparedFor(ctx, txn)
	if err != nil {
		return Decision{}, err
	}

	// The snapshot and the decision cache (decisioncache.go). The version
	// changes inside every commit of a policy or data change, and no commit
	// happens while txn is open, so the route index matched here and a
	// decision made here belong to this version.
	snap := e.snap.Load()
	if snap == nil || snap.err != nil {
		return Decision{}, fmt.Errorf("route index: %v", snap.errOrMissing())
	}
	r := &request{Input: &in, keys: snap.routes.match(in.Host, in.Method, in.Path, in.StrictHosts)}
	routes := make([]string, len(r.keys))
	for i, k := range r.keys {
		routes[i] = k.key
	}
	cache := e.decisions
	if record != nil || !pq.use.cacheable {
		cache = nil // every decision is evaluated (and logged)
	}
	var key string
	version := snap.version
	if cache != nil {
		if key, err = pq.use.inputKey(r); err != nil {
			return Decision{}, err
		}
		if d, ok := cache.get(key, version); ok {
			observeCacheHit(ctx)
			d.ID, d.Routes, d.DeclaredHeaders = id, routes, snap.routes.declaredNames
			d.cloneLists()
			return d, nil
		}
	}

	// A decision log records the whole input; otherwise the policy gets
	// only the fields it reads.
	read := pq.use.read
	if record != nil {
		read = nil
	}
	input, err := r.value(read)
	if err != nil {
		return Decision{}, err
	}
	result, err := e.eval(ctx, pq, txn, input, record)
	if record != nil {
		if logErr := e.logDecision(ctx, txn, input, result, err, record); logErr != nil {
			// A decision that cannot be logged is not made: fail closed.
			return Decision{}, fmt.Errorf("%w: %w", errDecisionLog, logErr)
		}
	}
	if err != nil {
		return Decision{}, err
	}
	d, err := decodeDecision(result)
	if err == nil {
		err = d.checkHeaders(snap.routes.declared)
	}
	if err != nil {
		return Decision{}, err
	}
	if cache != nil && e.snap.Load().version == version {
		cache.put(key, version, d)
	}
	d.ID, d.Routes, d.DeclaredHeaders = id, routes, snap.routes.declaredNames
	return d, nil
}

// eval returns the decision as OPA computed it, an AST value: converting
// it to Go values first would cost allocations for nothing.
func (e *Engine) eval(ctx context.Context, pq *preparedQuery, txn storage.Transaction, input ast.Value, record *server.Info) (ast.Value, error) {
	// The evaluation stops when ctx ends. Left to itself, rego starts a
	// goroutine per evaluation to watch ctx; a callback on ctx costs less
	// and nothing at all for a context that never ends.
	cancel := topdown.NewCancel()
	defer context.AfterFunc(ctx, cancel.Cancel)()
	opts := []rego.EvalOption{rego.EvalParsedInput(input), rego.EvalTransaction(txn), rego.EvalGenerateJSON(rawResult), rego.EvalExternalCancel(cancel)}
	var tracker *topdown.EvaluatedRuleTracker
	if record != nil {
		tracker = &topdown.EvaluatedRuleTracker{}
		opts = append(opts, rego.EvalTime(record.Timestamp), rego.EvalMetrics(record.Metrics), rego.EvalEvaluatedRuleTracker(tracker))
	} else {
		opts = append(opts, rego.EvalMetrics(metrics.NoOp()))
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
	t, ok := rs[0].Expressions[0].Value.(*ast.Term)
	if !ok {
		return nil, fmt.Errorf("decision is %T, want a term", rs[0].Expressions[0].Value)
	}
	return t.Value, nil
}

func rawResult(t *ast.Term, _ *rego.EvalContext) (any, error) { return t, nil }

// newDecisionID returns a random (version 4) UUID, as OPA's ids are, its
// 122 random bits read from crypto/rand for every id. Filled here rather
// than by uuid.NewRandom, whose reader interface moves the bytes to the
// heap: one allocation less on every decision.
func newDecisionID() (string, error) {
	var id uuid.UUID
	if _, err := rand.Read(id[:]); err != nil {
		return "", fmt.Errorf("decision id: %w", err)
	}
	id[6] = id[6]&0x0f | 0x40 // version 4
	id[8] = id[8]&0x3f | 0x80 // RFC 9562 variant
	return id.String(), nil
}

func (s *snapshot) errOrMissing() error {
	if s == nil {
		return errors.New("no data version yet")
	}
	return s.err
}
