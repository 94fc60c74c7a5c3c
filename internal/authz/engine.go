// Package authz is the embedded Open Policy Agent: it loads and compiles the
// policy through OPA's SDK (the standard bundle plugin and configuration),
// keeps it current (folder reloads, bundle polling) and answers one question
// per request, Decide. It knows nothing of HTTP.
//
// The lifecycle (this file: SDK, plugin manager, activation, revision,
// status) is kept apart from evaluation (decide.go), so the evaluation path
// can change without touching how policies arrive.
package authz

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/logging"
	"github.com/open-policy-agent/opa/v1/plugins"
	bundleplugin "github.com/open-policy-agent/opa/v1/plugins/bundle"
	"github.com/open-policy-agent/opa/v1/plugins/logs"
	"github.com/open-policy-agent/opa/v1/sdk"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/util"
	"github.com/prometheus/client_golang/prometheus"
)

// Config selects where the policy comes from and where OPA writes.
type Config struct {
	// PolicyDir, PolicyFS and OPAConfig say where the policy comes from
	// (a Source, source.go; WithSource sets them).
	// PolicyDir is a folder of .rego files and data.json (folder mode).
	PolicyDir string
	// PolicyFS, when set, is read instead of PolicyDir (e.g. the copy
	// embedded in the binary).
	PolicyFS fs.FS
	// TestsMustPass: a folder version is activated only if its Rego tests
	// (its own *_test.rego files and those in TestDirs) pass.
	TestsMustPass bool
	TestDirs      []string
	// OPAConfig, when set, is a complete OPA configuration (services,
	// bundles, keys, decision_logs, status) used instead of a folder
	// (fleet mode).
	OPAConfig []byte
	// DecisionLogs turns on OPA's console decision log
	// (decision_logs: {console: true}).
	DecisionLogs bool
	// Console receives OPA's console output, one JSON object per line:
	// decision logs and status reports. nil discards it.
	Console io.Writer
	Logger  *slog.Logger
	// DecisionCacheSize bounds the decision cache (decisioncache.go): 0
	// means DefaultDecisionCacheSize, a negative value turns it off. The
	// cache is also off while decision logs are on (every decision is
	// evaluated and logged) and for a policy calling a non-deterministic
	// built-in.
	DecisionCacheSize int
	// Audiences are every configured audience. With more than one, a
	// version whose default table or a host table does not name the
	// audiences it accepts is refused (docs/policy.md).
	Audiences []string
	// Metrics, when set, receives the engine's metrics (metrics.go: the
	// policy lifecycle, the decision cache) and OPA's own status metrics
	// (bundle loads, failures, plugin states) if the configuration asks
	// for them (status: {prometheus: true}).
	Metrics prometheus.Registerer
}

// folderBundle names the bundle a policy folder is served as.
const folderBundle = "authz"

// Engine evaluates data.authz.decision and keeps its policy current.
type Engine struct {
	opa     *sdk.OPA
	manager *plugins.Manager // the SDK's plugin manager (store, compiler, plugins)
	ready   chan struct{}
	logger  *slog.Logger
	folder  *folder // nil in fleet mode

	evaluator   evaluator
	decisionLog *logs.Plugin // nil unless decision logs are configured
	decisions   *decisionCache
	store       *checkedStore
	// version changes inside the commit of every policy or data change;
	// snap holds it with that version's route index.
	version atomic.Uint64
	snapMu  sync.Mutex // serializes advance
	snap    atomic.Pointer[snapshot]

	mu     sync.Mutex
	status Status
	errs   map[string]error // current failure per bundle
}

// folder is a policy folder the engine reloads. Each version is staged as
// a bundle archive in memory (stage.go) and activated by triggering the
// bundle plugin, so the folder is read once per version and OPA activates
// exactly what was checked.
type folder struct {
	fsys          fs.FS  // the embedded copy; nil for a folder on disk
	dir           string // read through loadPolicyDir (ConfigMap layout too)
	name          string
	testsMustPass bool
	testDirs      []string
	checks        checks // the store's, checked before staging too
	stage         stage
	mu            sync.Mutex // one reload at a time
}

// Status is the policy lifecycle, for readiness, metrics and logs.
type Status struct {
	// Source is the policy folder, "embedded", or "bundles" (fleet mode).
	Source string
	// Revision is the active policy's revision: the folder's content hash,
	// or the bundle manifest's revision ("name=rev" joined by "," when
	// several bundles are configured). "" until a policy is active.
	Revision    string
	ActivatedAt time.Time
	// Activations and Failures count policy versions activated and
	// refused (compile errors, failed tests, bad or unverifiable bundles,
	// failed downloads, and bundles activated without a decision rule).
	Activations uint64
	Failures    uint64
	// LastError is why the newest version is not active, "" when the
	// newest version serves.
	LastError   string
	LastErrorAt time.Time
}

// New starts the OPA SDK. In folder mode the policy is loaded (and tested,
// with TestsMustPass) first, and a broken one is returned as an error. New
// returns without waiting for activation; Ready closes when the first
// policy is active, and Decide denies until then.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	e := &Engine{ready: make(chan struct{}), logger: logger, errs: map[string]error{}, decisions: newDecisionCache(cfg.DecisionCacheSize)}
	// The policy reads data (the route table) on every decision; as AST
	// values it is not converted from Go values each time.
	e.store = &checkedStore{Store: inmem.NewWithOpts(inmem.OptReturnASTValuesOnRead(true)), checks: checks{audiences: slices.Clone(cfg.Audiences)}}
	src := cfg.source()
	e.status.Source = src.Name()

	config := src.OPAConfig
	if !src.Bundles() {
		var err error
		if config, err = e.startFolder(ctx, src, cfg); err != nil {
			return nil, err
		}
	}
	if cfg.DecisionLogs {
		var err error
		if config, err = withConsoleDecisionLogs(config); err != nil {
			return nil, err
		}
	}
	console := cfg.Console
	if console == nil {
		console = io.Discard
	}
	managerOpts := []func(*plugins.Manager){e.attach}
	if cfg.Metrics != nil {
		managerOpts = append(managerOpts, plugins.WithPrometheusRegister(cfg.Metrics))
	}
	opa, err := sdk.New(ctx, sdk.Options{
		ID:            "policygate",
		Config:        bytes.NewReader(config),
		Logger:        logging.NewLoggerFromSlogHandler(logger.Handler(), logging.Info),
		ConsoleLogger: logging.NewLoggerFromSlogHandler(slog.NewJSONHandler(console, nil), logging.Info),
		Ready:         e.ready,
		Store:         e.store,
		RegoVersion:   ast.RegoV1,
		ManagerOpts:   managerOpts,
		Plugins:       e.stagePlugins(),
	})
	if err != nil {
		return nil, fmt.Errorf("start policy engine: %w", err)
	}
	e.opa = opa
	e.decisionLog = logs.Lookup(e.manager)
	if p := bundleplugin.Lookup(e.manager); p != nil {
		p.Register(e, e.onBundleStatus)
	}
	if e.decisionLog != nil {
		e.decisions = nil // log fidelity: every decision is evaluated and logged
	}
	if cfg.Metrics != nil {
		e.registerMetrics(cfg.Metrics)
	}
	if e.folder != nil {
		// The staged bundle is downloaded only when triggered.
		if err := e.trigger(ctx); err != nil {
			opa.Stop(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("start policy engine: %w", err)
		}
	}
	return e, nil
}

// stagePlugins lends a folder's stage to OPA (stage.go); none in fleet mode.
func (e *Engine) stagePlugins() map[string]plugins.Factory {
	if e.folder == nil {
		return nil
	}
	return map[string]plugins.Factory{stageName: stageFactory{s: &e.folder.stage}}
}

// startFolder loads the first version of a policy folder (src, on disk or
// embedded) and stages it.
func (e *Engine) startFolder(ctx context.Context, src Source, cfg Config) ([]byte, error) {
	f := &folder{fsys: src.FS, name: src.Name(), testsMustPass: cfg.TestsMustPass, testDirs: cfg.TestDirs, checks: e.store.checks}
	if !src.Embedded() {
		if fi, err := os.Stat(src.Dir); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("policy %s: not a readable folder", src.Dir)
		}
		f.dir = src.Dir
	}
	p, err := f.load(ctx)
	if err != nil {
		return nil, err
	}
	e.folder = f
	if err := f.write(p); err != nil {
		return nil, err
	}
	return json.Marshal(f.stage.config(folderBundle))
}

// load reads, compiles and (if required) tests the folder's current version.
func (f *folder) load(ctx context.Context) (*Policy, error) {
	p, err := f.read()
	if err == nil {
		err = checkRouteTables(p.bundle.Data, f.checks)
	}
	if err == nil && f.testsMustPass {
		err = p.Test(ctx, f.testDirs)
	}
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", f.name, err)
	}
	return p, nil
}

// read loads the folder's current version once.
func (f *folder) read() (*Policy, error) {
	if f.fsys != nil {
		return LoadPolicy(f.fsys)
	}
	return loadPolicyDir(f.dir)
}

// write stages p for the bundle plugin's next download.
func (f *folder) write(p *Policy) error {
	raw, err := p.writeBundle()
	if err != nil {
		return err
	}
	f.stage.set(raw)
	return nil
}

// Reload re-reads the policy folder and activates its current version if
// it differs from the active one and is valid: it compiles, defines
// data.authz.decision and, with TestsMustPass, passes its tests. Otherwise
// the active policy keeps serving; the error is returned, logged and
// reported in Status. The swap is one store transaction: a decision sees
// the old policy or the new one, never a mix and never none.
//
// In fleet mode Reload downloads the bundles now (the bundle plugin also
// polls on its own); errors are returned for bundles with trigger: manual.
func (e *Engine) Reload(ctx context.Context) error {
	f := e.folder
	if f == nil {
		return e.trigger(ctx)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	p, err := f.read()
	if err == nil && p.Revision == e.Revision() {
		e.setError(folderBundle, nil) // e.g. a broken edit was undone
		return nil
	}
	if err == nil && f.testsMustPass {
		err = p.Test(ctx, f.testDirs)
	}
	if err != nil {
		err = fmt.Errorf("policy %s: %w", f.name, err)
		e.setError(folderBundle, err)
		return err
	}
	if err := f.write(p); err != nil {
		e.setError(folderBundle, err)
		return err
	}
	return e.trigger(ctx)
}

// trigger has the bundle plugin fetch and activate now. A failure reaches
// onBundleStatus too, which records it.
func (e *Engine) trigger(ctx context.Context) error {
	bp := bundleplugin.Lookup(e.manager)
	if bp == nil {
		return errors.New("policy engine: no bundle plugin configured")
	}
	return bp.Trigger(ctx)
}

// Ready is closed once a policy is active.
func (e *Engine) Ready() <-chan struct{} { return e.ready }

// Revision is the active policy's revision, "" when none is active.
func (e *Engine) Revision() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.status.Revision
}

// Status reports the policy lifecycle.
func (e *Engine) Status() Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.status
}

// Stop shuts the SDK down.
func (e *Engine) Stop(ctx context.Context) {
	e.opa.Stop(ctx)
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
	if len(names) == 1 {
		_, revision, _ = strings.Cut(revision, "=")
	}

	e.mu.Lock()
	e.status.Revision = revision
	e.status.ActivatedAt = time.Now().UTC()
	e.status.Activations++
	source := e.status.Source
	e.mu.Unlock()
	e.logger.Info("policy active", "source", source, "revision", revision)

	// A bundle compiles without data.authz.decision; OPA cannot be told to
	// refuse it, so say loudly that every request is now denied.
	var missing error
	if c := e.manager.GetCompiler(); c == nil || len(c.GetRulesExact(decisionRef)) == 0 {
		missing = fmt.Errorf("revision %s defines no data.authz.decision: every request is denied", revision)
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
	revision := e.status.Revision
	e.mu.Unlock()

	if err != nil && (prev == nil || prev.Error() != err.Error()) {
		e.logger.Error("policy not activated; the active policy keeps serving", "revision", revision, "err", err.Error())
	}
}

// withConsoleDecisionLogs turns on console decision logs in an OPA
// configuration (JSON or YAML), keeping its other decision_logs settings.
func withConsoleDecisionLogs(config []byte) ([]byte, error) {
	var m map[string]any
	if err := util.Unmarshal(config, &m); err != nil {
		return nil, fmt.Errorf("opa configuration: %w", err)
	}
	if m == nil {
		m = map[string]any{}
	}
	dl, _ := m["decision_logs"].(map[string]any)
	if dl == nil {
		dl = map[string]any{}
	}
	dl["console"] = true
	m["decision_logs"] = dl
	return json.Marshal(m)
}
