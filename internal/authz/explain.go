package authz

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/topdown/lineage"
	"github.com/open-policy-agent/opa/v1/topdown/print"

	"github.com/policygate/policygate/internal/policy"
)

// ExplainMode selects how much of OPA's trace Explain renders.
type ExplainMode int

const (
	ExplainNone  ExplainMode = iota // no trace
	ExplainNotes                    // trace() notes and print() output, with where they came from
	ExplainFull                     // every evaluation step (opa eval --explain full)
)

// ParseExplainMode reads "notes" or "full".
func ParseExplainMode(s string) (ExplainMode, error) {
	switch s {
	case "notes":
		return ExplainNotes, nil
	case "full":
		return ExplainFull, nil
	}
	return ExplainNone, fmt.Errorf("explain %q: want notes or full", s)
}

// Explanation is a traced evaluation of the decision, for people: the
// decision object exactly as the policy returned it, and the trace.
type Explanation struct {
	// Result is data.authz.decision as the policy returned it, every field
	// included (Decide keeps only the ones it knows).
	Result map[string]any
	// Input is the policy input, as JSON-compatible values.
	Input any
	// Revision is the policy revision that decided.
	Revision string
	// Trace is the rendered trace ("" with ExplainNone): one event per
	// line with its file and line, as `opa eval --explain` prints it.
	Trace string
	// Prints are the lines the policy's print() calls wrote, each prefixed
	// with its location.
	Prints []string
}

// Explain evaluates the decision for in on the active policy, with OPA's
// tracer on. It is for tools (server decide), not the request path: it
// compiles the active modules again with print() kept, and it neither
// uses the decision cache nor writes a decision log.
func (e *Engine) Explain(ctx context.Context, in Input, mode ExplainMode) (Explanation, error) {
	select {
	case <-e.ready:
	default:
		return Explanation{}, ErrNotReady
	}
	store := e.manager.Store
	txn, err := store.NewTransaction(ctx, storage.TransactionParams{})
	if err != nil {
		return Explanation{}, fmt.Errorf("explain: %w", err)
	}
	defer store.Abort(ctx, txn)
	// The input Decide builds, whole, with the route index of the version
	// txn reads (no commit happens while it is open).
	snap := e.snap.Load()
	if snap == nil || snap.err != nil {
		return Explanation{}, fmt.Errorf("explain: route index: %v", snap.errOrMissing())
	}
	r := &request{Input: &in, keys: snap.routes.match(in.Host, in.Method, in.Path, in.StrictHosts)}
	input, err := r.value(nil)
	if err != nil {
		return Explanation{}, fmt.Errorf("explain: %w", err)
	}
	// A folder's files are named as in the folder (and in reload errors),
	// not with the bundle name OPA stores them under. Bundles from
	// OPA_CONFIG keep their bundle's name: it says where a file came from.
	prefix := ""
	if e.folder != nil {
		prefix = folderBundle + "/"
	}
	compiler, err := compileWithPrint(ctx, store, txn, prefix)
	if err != nil {
		return Explanation{}, fmt.Errorf("explain: %w", err)
	}

	hook := &printLines{}
	opts := []func(*rego.Rego){
		rego.Query(policy.Query),
		rego.Compiler(compiler),
		rego.Store(store),
		rego.Transaction(txn),
		rego.ParsedInput(input),
		rego.Runtime(e.manager.Info),
		rego.PrintHook(hook),
		rego.EnablePrintStatements(true),
		rego.StrictBuiltinErrors(true), // as Decide: a failing built-in is an error
	}
	var tracer *topdown.BufferTracer
	if mode != ExplainNone {
		tracer = topdown.NewBufferTracer()
		opts = append(opts, rego.QueryTracer(tracer))
	}
	rs, err := rego.New(opts...).Eval(ctx)
	if err != nil {
		return Explanation{}, fmt.Errorf("explain: %w", err)
	}
	x := Explanation{Revision: e.Revision(), Prints: hook.lines}
	if x.Input, err = ast.JSON(input); err != nil {
		return Explanation{}, fmt.Errorf("explain: %w", err)
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return x, errors.New("explain: decision is undefined")
	}
	m, ok := rs[0].Expressions[0].Value.(map[string]any)
	if !ok {
		return x, fmt.Errorf("explain: decision is %T, want an object", rs[0].Expressions[0].Value)
	}
	x.Result = m
	if tracer != nil {
		events := []*topdown.Event(*tracer)
		if mode == ExplainNotes {
			events = lineage.Notes(events)
		}
		var buf bytes.Buffer
		topdown.PrettyTraceWithLocation(&buf, events)
		x.Trace = buf.String()
	}
	return x, nil
}

// compileWithPrint compiles the modules of the policy txn sees again, with
// print() calls kept (the engine's compiler may have erased them). Each
// module's locations name its stored id without prefix.
func compileWithPrint(ctx context.Context, store storage.Store, txn storage.Transaction, prefix string) (*ast.Compiler, error) {
	ids, err := store.ListPolicies(ctx, txn)
	if err != nil {
		return nil, err
	}
	slices.Sort(ids)
	modules := make(map[string]*ast.Module, len(ids))
	for _, id := range ids {
		raw, err := store.GetPolicy(ctx, txn, id)
		if err != nil {
			return nil, err
		}
		m, err := ast.ParseModuleWithOpts(strings.TrimPrefix(id, prefix), string(raw), ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
		if err != nil {
			return nil, err
		}
		modules[id] = m
	}
	c := ast.NewCompiler().WithDefaultRegoVersion(ast.RegoV1).WithEnablePrintStatements(true)
	if c.Compile(modules); c.Failed() {
		return nil, c.Errors
	}
	return c, nil
}

// printLines collects print() output with its location.
type printLines struct {
	mu    sync.Mutex
	lines []string
}

func (p *printLines) Print(pc print.Context, msg string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pc.Location != nil {
		msg = fmt.Sprintf("%s:%d: %s", pc.Location.File, pc.Location.Row, msg)
	}
	p.lines = append(p.lines, msg)
	return nil
}
