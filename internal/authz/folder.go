// The policy folder, on disk or embedded: load, check, stage, Reload.

package authz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	"github.com/open-policy-agent/opa/v1/plugins"
	bundleplugin "github.com/open-policy-agent/opa/v1/plugins/bundle"

	"github.com/policygate/policygate/internal/policy"
)

// folderBundle names the bundle a policy folder is served as.
const folderBundle = "authz"

// folder is a policy folder the engine reloads. Each version is staged as
// a bundle archive in memory (stage.go) and activated by triggering the
// bundle plugin, so the folder is read once per version and OPA activates
// exactly what was checked.
type folder struct {
	fsys          fs.FS  // the embedded copy; nil for a folder on disk
	dir           string // read through policy.LoadDir (ConfigMap layout too)
	name          string
	testsMustPass bool
	testDirs      []string
	checks        checks // the store's, checked before staging too
	stage         stage
	mu            sync.Mutex // one reload at a time
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
func (f *folder) load(ctx context.Context) (*policy.Policy, error) {
	p, err := f.read()
	if err == nil {
		err = checkRouteTables(p.Data(), f.checks)
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
func (f *folder) read() (*policy.Policy, error) {
	if f.fsys != nil {
		return policy.Load(f.fsys)
	}
	return policy.LoadDir(f.dir)
}

// write stages p for the bundle plugin's next download.
func (f *folder) write(p *policy.Policy) error {
	raw, err := p.Bundle()
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
