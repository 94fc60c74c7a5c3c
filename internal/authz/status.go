// The policy lifecycle: activations, revisions and failures (Status).

package authz

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/plugins"
	bundleplugin "github.com/open-policy-agent/opa/v1/plugins/bundle"
	"github.com/open-policy-agent/opa/v1/storage"

	"github.com/policygate/policygate/internal/policy"
	"github.com/policygate/policygate/internal/redact"
)

// decisionRef is the entrypoint as the compiler looks rules up.
var decisionRef = ast.MustParseRef(policy.Query)

// Status is the policy lifecycle, for readiness, metrics and logs.
type Status struct {
	// Source is the policy folder, "embedded", or "bundles" (fleet mode).
	Source string
	// Revision is the active policy's revision: the folder's content hash,
	// or the bundle manifest's revision ("name=rev" joined by "," when
	// several bundles are configured). "" until a policy is active.
	Revision    string
	ActivatedAt time.Time
	// Activations and Failures count activations and refusals, not
	// versions: in fleet mode every download attempt counts, so a bundle
	// refused on each poll (or, without an ETag, activated again on each
	// poll) adds one every time. Failures are compile errors, failed
	// tests, bad or unverifiable bundles, failed or stalled downloads,
	// and bundles activated without a decision rule.
	Activations uint64
	Failures    uint64
	// LastError is why the newest version is not active, "" when the
	// newest version serves.
	LastError   string
	LastErrorAt time.Time
}

// Status reports the policy lifecycle.
func (e *Engine) Status() Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.status
}

// attach runs while the SDK builds its plugin manager, before any bundle
// can activate: it keeps the manager and hooks every activation.
func (e *Engine) attach(m *plugins.Manager) {
	e.manager = m
	m.RegisterCompilerTrigger(e.onActivate)
	// Every committed write (a bundle's data alone, too) installs the
	// route index checkedStore built for it and retires the decisions
	// cached so far. Nothing else holds the store yet.
	ctx := context.Background()
	err := storage.Txn(ctx, m.Store, storage.WriteParams, func(txn storage.Transaction) error {
		_, err := m.Store.Register(ctx, txn, storage.TriggerConfig{
			SkipDataConversion: true,
			OnCommit: func(ctx context.Context, txn storage.Transaction, _ storage.TriggerEvent) {
				x, err := e.store.takePending(ctx, txn)
				e.advance(x, err, true)
				if err == nil {
					e.checkRouteTablesPresent(ctx, txn, x)
				}
			},
		})
		return err
	})
	if err != nil {
		// Without the trigger a data change could not retire cached
		// decisions: do without the cache rather than risk a stale answer.
		e.logger.Error("decision cache off", "err", err.Error())
		e.decisions = nil
	}
}

// onActivate runs inside the commit of every policy change, while the
// store is locked: it may read through txn but must not open a transaction.
func (e *Engine) onActivate(txn storage.Transaction) {
	e.advance(nil, nil, false)
	ctx := context.Background()
	names, err := bundle.ReadBundleNamesFromStore(ctx, e.manager.Store, txn)
	if err != nil || len(names) == 0 {
		return // the manager's own initialisation, not a policy
	}
	slices.Sort(names)
	revs := make([]string, 0, len(names))
	for _, name := range names {
		rev, _ := bundle.ReadBundleRevisionFromStore(ctx, e.manager.Store, txn, name)
		revs = append(revs, name+"="+rev)
	}
	revision := strings.Join(revs, ",")
	if len(names) == 1 && e.bundleCount <= 1 {
		// One bundle configured: its revision alone. With several, the
		// name stays even while only one is active.
		_, revision, _ = strings.Cut(revision, "=")
	}

	e.mu.Lock()
	e.status.Revision = revision
	e.status.ActivatedAt = time.Now().UTC()
	e.status.Activations++
	source := e.status.Source
	e.mu.Unlock()
	e.logger.Info("policy active", "source", source, "revision", revision)

	// A bundle compiles without the entrypoint; OPA cannot be told to
	// refuse it, so say loudly that every request is now denied.
	var missing error
	if c := e.manager.GetCompiler(); c == nil || len(c.GetRulesExact(decisionRef)) == 0 {
		missing = fmt.Errorf("revision %s defines no %s: every request is denied", revision, policy.Query)
	}
	e.setError(decisionCheck, missing)
}

// advance starts a new version: with the route index x (or err) when
// routes is set, else keeping the current index. It runs inside a commit.
func (e *Engine) advance(x *routeIndex, err error, routes bool) {
	e.snapMu.Lock()
	defer e.snapMu.Unlock()
	next := &snapshot{version: e.version.Add(1), routes: x, err: err}
	if prev := e.snap.Load(); !routes && prev != nil {
		next.routes, next.err = prev.routes, prev.err
	}
	if next.routes == nil && next.err == nil {
		next.routes = &routeIndex{}
	}
	e.snap.Store(next)
}

// decisionCheck keys the error of an active policy without a decision.
const decisionCheck = "active policy"

// checkRouteTablesPresent warns when the version committed in txn has a
// policy but no route table: a policy that looks its rules up there, as
// the shipped one does, then denies every request as no_route while the
// service reports ready. That is almost always a POLICY_DIR one level too
// deep (policies/authz) or a data.json left out. An empty table
// ("routes": {}) routes nothing on purpose and is not reported; a policy
// of one's own that reads no table is served as it is (and warned about,
// since this reads the data, not the policy). It runs inside
// the commit, like onActivate, and warns once per change of state.
func (e *Engine) checkRouteTablesPresent(ctx context.Context, txn storage.Transaction, x *routeIndex) {
	names, err := bundle.ReadBundleNamesFromStore(ctx, e.manager.Store, txn)
	if err != nil || len(names) == 0 {
		return // no policy yet: the manager's own writes
	}
	missing := x == nil || (x.def == nil && x.hosts == nil)
	if e.noRouteTables.Swap(missing) != missing && missing {
		hint := "POLICY_DIR is the folder that holds authz/ and its data.json"
		if e.folder == nil {
			hint = "the bundle has no authz/data.json: build it from the folder that holds authz/"
		}
		e.logger.Warn(`policy active without a route table: data.authz has neither "routes" nor "hosts", `+
			`so a policy that looks rules up there denies every request as no_route`, "hint", hint)
	}
}

// onBundleStatus sees the outcome of every bundle download or trigger;
// the bundle plugin calls it with its lock held.
func (e *Engine) onBundleStatus(s bundleplugin.Status) {
	var err error
	if s.Code != "" || s.Message != "" {
		msg := s.Message
		for _, x := range s.Errors {
			msg += "; " + x.Error()
		}
		err = fmt.Errorf("bundle %s: %s", s.Name, msg)
	}
	e.mu.Lock()
	e.lastPoll[s.Name] = time.Now()
	e.mu.Unlock()
	e.setError(stallKey(s.Name), nil)
	e.setError(s.Name, err)
}

// setError records the current failure of one bundle (nil clears it),
// counts it and logs it when it is new.
func (e *Engine) setError(name string, err error) {
	e.mu.Lock()
	prev := e.errs[name]
	if err == nil {
		delete(e.errs, name)
	} else {
		e.errs[name] = err
		e.status.Failures++
		e.status.LastErrorAt = time.Now().UTC()
	}
	msgs := make([]string, 0, len(e.errs))
	for _, name := range slices.Sorted(maps.Keys(e.errs)) {
		msgs = append(msgs, e.errs[name].Error())
	}
	e.status.LastError = strings.Join(msgs, "\n")
	revision, active := e.status.Revision, e.status.Activations > 0
	e.mu.Unlock()

	if err != nil && (prev == nil || prev.Error() != err.Error()) {
		msg := "policy not activated; the active policy keeps serving"
		switch {
		case name == decisionCheck:
			msg = "policy active, but it denies every request"
		case !active: // a bundle built without a revision has "" too
			msg = "policy not activated; no policy is active yet, requests are answered 503"
		}
		e.logger.Error(msg, "revision", revision, "err", redact.URLs(err.Error()))
	}
}
