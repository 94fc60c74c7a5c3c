package authz

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/plugins"
	"github.com/open-policy-agent/opa/v1/storage"
)

// checkedStore is the SDK's store with one addition: before a write
// transaction commits (a bundle activation, a data-only bundle, any other
// data write), the route tables it leaves behind are checked and indexed.
// A table that is not canonical fails the commit, so the version is
// refused like a compile error and the previous one keeps serving. The
// index is handed over inside the commit (onCommit, run by the store's
// commit triggers while no reader holds a transaction), together with the
// version the decision cache uses: a decision never mixes two versions.
type checkedStore struct {
	storage.Store
	writer atomic.Uint64 // id of the open write transaction (one at a time)
	// writerCtx is that transaction's context, where the bundle plugin
	// leaves the compiler of the version it activates.
	writerCtx atomic.Pointer[storage.Context]
	// modulePrefix is what a module's id has before its file name in
	// the policy folder ("" in fleet mode: bundles keep their names).
	modulePrefix string
	// checks are what the configuration adds to the data's own rules;
	// set before the store is used.
	checks checks
	// pending is the index Commit built for the commit in progress; only
	// the holder of the store's write lock touches it.
	pending *routeIndex
}

func (s *checkedStore) NewTransaction(ctx context.Context, params ...storage.TransactionParams) (storage.Transaction, error) {
	txn, err := s.Store.NewTransaction(ctx, params...)
	if err == nil && len(params) > 0 && params[0].Write {
		s.writer.Store(txn.ID())
		s.writerCtx.Store(params[0].Context)
	}
	return txn, err
}

// Commit refuses a write whose route tables are not valid, whose modules
// define a rule of package authz in two files (modules.go), or that
// leaves decision logs without their mask (decisionlog.go).
func (s *checkedStore) Commit(ctx context.Context, txn storage.Transaction) error {
	if txn.ID() != s.writer.Load() {
		return s.Store.Commit(ctx, txn)
	}
	x, err := readIndex(ctx, s.Store, txn, s.checks)
	// The bundle plugin, the one writer of policies here, compiles every
	// module of the version it activates and leaves the compiler on the
	// transaction's context; a write without one changes no module.
	if c := plugins.GetCompilerOnContext(s.writerCtx.Load()); err == nil && c != nil {
		err = checkRuleOwners(c.Modules, func(id string) string { return strings.TrimPrefix(id, s.modulePrefix) })
		if err == nil {
			err = s.checkMask(ctx, txn, c)
		}
	}
	if err != nil {
		s.Store.Abort(ctx, txn) // the contract: a failed Commit aborts
		return err
	}
	s.pending = x
	return s.Store.Commit(ctx, txn)
}

// MakeDir keeps the wrapped store's own implementation in use.
func (s *checkedStore) MakeDir(ctx context.Context, txn storage.Transaction, path storage.Path) error {
	return storage.MakeDir(ctx, s.Store, txn, path)
}

// takePending returns the index built for the commit in progress, or
// builds it (a commit that did not pass through Commit).
func (s *checkedStore) takePending(ctx context.Context, txn storage.Transaction) (*routeIndex, error) {
	x := s.pending
	s.pending = nil
	if x != nil {
		return x, nil
	}
	return readIndex(ctx, s.Store, txn, s.checks)
}

// readIndex builds the index of the route tables txn sees.
func readIndex(ctx context.Context, store storage.Store, txn storage.Transaction, c checks) (*routeIndex, error) {
	v, err := readValue(ctx, store, txn, authzPath)
	if err != nil {
		return nil, err
	}
	return buildTables(tablesOf(v), c)
}

// authzPath is where the policy's data lives.
var authzPath = []string{"authz"}

func readValue(ctx context.Context, store storage.Store, txn storage.Transaction, path []string) (ast.Value, error) {
	v, err := store.Read(ctx, txn, storage.Path(path))
	switch {
	case storage.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read data %v: %w", path, err)
	}
	if v, ok := v.(ast.Value); ok {
		return v, nil
	}
	val, err := ast.InterfaceToValue(v)
	if err != nil {
		return nil, fmt.Errorf("read data %v: %w", path, err)
	}
	return val, nil
}

// checkRouteTables checks the route tables of a policy's data before it is
// staged, so a fresh start with a broken table fails at once.
func checkRouteTables(data map[string]any, c checks) error {
	v, ok := data["authz"]
	if !ok {
		return nil
	}
	val, err := ast.InterfaceToValue(v)
	if err != nil {
		return fmt.Errorf("data.authz: %w", err)
	}
	_, err = buildTables(tablesOf(val), c)
	return err
}

// snapshot is what one store version gives every decision made on it.
type snapshot struct {
	version uint64
	routes  *routeIndex
	err     error // the index could not be built: every decision fails
}
