// The decision query, prepared once per compiled policy.

package authz

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"

	"github.com/policygate/policygate/internal/policy"
)

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
		rego.Query(policy.Query),
		rego.Compiler(compiler),
		rego.Store(e.manager.Store),
		rego.Transaction(txn), // never a second read transaction: it could wait on a pending commit forever
		rego.Runtime(e.manager.Info),
		rego.PrintHook(e.manager.PrintHook()),
		rego.EnablePrintStatements(e.manager.EnablePrintStatements()),
		// A built-in that fails (1/0, to_number("abc"), upper(5)) is an
		// error, not an undefined expression: otherwise a custom_denials
		// rule that fails on an odd claim would silently not deny.
		rego.StrictBuiltinErrors(true),
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
