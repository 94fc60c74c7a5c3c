// Config, Engine and the OPA SDK it runs: New, Ready, Revision, Stop.

package authz

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/logging"
	"github.com/open-policy-agent/opa/v1/plugins"
	bundleplugin "github.com/open-policy-agent/opa/v1/plugins/bundle"
	"github.com/open-policy-agent/opa/v1/plugins/logs"
	"github.com/open-policy-agent/opa/v1/sdk"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/policygate/policygate/internal/redact"
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
	// (decision_logs: {console: true}). While decisions are logged (so
	// also with decision_logs in OPAConfig), a policy version that does
	// not define the mask (data.system.log.mask) is refused.
	DecisionLogs bool
	// Console receives OPA's console output, one JSON object per line:
	// decision logs and status reports. nil discards it.
	Console io.Writer
	Logger  *slog.Logger
	// DecisionCacheSize bounds the decision cache (decisioncache.go); 0 (or
	// less) turns it off, as DECISION_CACHE_SIZE=0 does. The
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
	// noRouteTables: the active version has a policy and no route table
	// (warned about once, when it becomes so).
	noRouteTables atomic.Bool

	mu       sync.Mutex
	status   Status
	errs     map[string]error     // current failure per bundle
	lastPoll map[string]time.Time // when each bundle last completed a download
	// stopWatch ends watchStalls (bundlestall.go); nil without one.
	stopWatch context.CancelFunc
	// bundleCount is how many bundles the configuration names (1 in
	// folder mode), set before any activation.
	bundleCount int
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
	e := &Engine{ready: make(chan struct{}), logger: logger, errs: map[string]error{}, lastPoll: map[string]time.Time{}, decisions: newDecisionCache(cfg.DecisionCacheSize)}
	// The policy reads data (the route table) on every decision; as AST
	// values it is not converted from Go values each time.
	e.store = &checkedStore{Store: inmem.NewWithOpts(inmem.OptReturnASTValuesOnRead(true)), checks: checks{audiences: slices.Clone(cfg.Audiences)}}
	src := cfg.source()
	e.status.Source = src.Name()

	config := src.OPAConfig
	var err error
	var polls []bundlePoll
	if src.Bundles() {
		if config, err = withBundleSizeLimits(config); err != nil {
			return nil, err
		}
		if polls, e.bundleCount, err = pollsOf(config); err != nil {
			return nil, err
		}
	} else {
		e.store.modulePrefix = folderBundle + "/" // name files as in the folder
		if config, err = e.startFolder(ctx, src, cfg); err != nil {
			return nil, err
		}
	}
	if cfg.DecisionLogs {
		if config, err = withConsoleDecisionLogs(config); err != nil {
			return nil, err
		}
	}
	if e.store.checks.mask, err = maskRef(config); err != nil {
		return nil, err
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
		ID:     "policygate",
		Config: bytes.NewReader(config),
		// OPA's messages quote URLs (a failed bundle download names
		// its resource, signed query included): all pass through here.
		Logger:        logging.NewLoggerFromSlogHandler(redact.Handler(logger.Handler()), logging.Info),
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
		if len(polls) > 0 {
			watchCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
			e.stopWatch = stop
			go e.watchStalls(watchCtx, polls, time.Now())
		}
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

// Ready is closed once a policy is active.
func (e *Engine) Ready() <-chan struct{} { return e.ready }

// Revision is the active policy's revision, "" when none is active.
func (e *Engine) Revision() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.status.Revision
}

// Stop shuts the SDK down.
func (e *Engine) Stop(ctx context.Context) {
	if e.stopWatch != nil {
		e.stopWatch()
	}
	e.opa.Stop(ctx)
}
