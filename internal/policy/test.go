package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
)

// testDirSuffix names the folder beside a policy folder that holds its
// tests: policies -> policies_test.
const testDirSuffix = "_test"

// policyTestTimeout bounds one run of a policy's tests, so a runaway test
// cannot hold a reload forever.
const policyTestTimeout = 30 * time.Second

// Test runs the Rego tests (the policy folder's own *_test.rego files and
// those in testDirs) against this version of the policy, the way
// `opa test` does. It fails when any test fails or errors, and when there
// is no test at all: a guard that checks nothing must not pass.
func (p *Policy) Test(ctx context.Context, testDirs []string) error {
	tests := maps.Clone(p.tests)
	for _, dir := range testDirs {
		from, err := resolveDir(dir)
		if err != nil {
			return err
		}
		// Linked files or folders are refused as in the policy folder.
		fsys := os.DirFS(from)
		if err := refuseLinks(fsys); err != nil {
			return fmt.Errorf("policy tests %s: %w", dir, err)
		}
		// A tests folder is loaded whole, as `opa test` does: helpers such
		// as the reference route matcher are modules beside the tests.
		more, err := loadRego(fsys, filepath.ToSlash(dir), true)
		if err != nil {
			return err
		}
		maps.Copy(tests, more)
	}
	if len(tests) == 0 {
		return errors.New("policy tests: no *_test.rego file found")
	}
	modules := make(map[string]*ast.Module, len(p.bundle.Modules)+len(tests))
	for _, m := range p.bundle.Modules {
		modules[m.Path] = m.Parsed.Copy()
	}
	for name, m := range tests {
		modules[name] = m.Copy()
	}

	ctx, cancel := context.WithTimeout(ctx, policyTestTimeout)
	defer cancel()
	// The store gets its own copy of the data: tests must not touch the
	// candidate that may be activated next.
	data, err := roundTrip(p.bundle.Data)
	if err != nil {
		return err
	}
	ch, err := tester.NewRunner().
		SetStore(inmem.NewFromObject(data)).
		SetCompiler(ast.NewCompiler().WithDefaultRegoVersion(ast.RegoV1)).
		SetDefaultRegoVersion(ast.RegoV1).
		SetTimeout(policyTestTimeout).
		SetModules(modules).
		RunTests(ctx, nil)
	if err != nil {
		return fmt.Errorf("policy tests: %w", err)
	}
	var ran int
	var failures []string
	for r := range ch {
		ran++
		if r.Pass() {
			continue
		}
		what := "FAIL"
		switch {
		case r.Error != nil:
			what = "ERROR: " + r.Error.Error()
		case r.Skip:
			continue // todo_ tests are reported by opa test, not failed
		}
		failures = append(failures, fmt.Sprintf("%s: %s.%s: %s", r.Location, r.Package, r.Name, what))
	}
	switch {
	case len(failures) > 0:
		slices.Sort(failures)
		return fmt.Errorf("policy tests: %d of %d failed:\n%s", len(failures), ran, strings.Join(failures, "\n"))
	case ran == 0:
		return errors.New("policy tests: no test rule (test_*) found")
	case ctx.Err() != nil:
		return fmt.Errorf("policy tests: %w", ctx.Err())
	}
	return nil
}

// TestDirs is the testDirs of Policy.Test for a policy folder: the folder beside
// it holding its tests (policies -> policies_test), if it exists. It is an
// error when neither it nor the policy folder holds a *_test.rego file: a
// guard that runs no test would let every version through.
func TestDirs(policyDir string) ([]string, error) {
	sibling := filepath.Clean(policyDir) + testDirSuffix
	var dirs []string
	if fi, err := os.Stat(sibling); err == nil && fi.IsDir() {
		dirs = append(dirs, sibling)
	}
	for _, dir := range append([]string{policyDir}, dirs...) {
		found := false
		filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(d.Name(), "_test.rego") {
				found = true
				return filepath.SkipAll
			}
			return nil
		})
		if found {
			return dirs, nil
		}
	}
	return nil, fmt.Errorf("no *_test.rego file in %s or %s", policyDir, sibling)
}

// loadTests parses every *_test.rego file of fsys; names (and so error
// locations) are prefix/relative path.
func loadTests(fsys fs.FS, prefix string) (map[string]*ast.Module, error) {
	return loadRego(fsys, prefix, false)
}

// loadRego parses the *_test.rego files of fsys, or with all every .rego
// file.
func loadRego(fsys fs.FS, prefix string, all bool) (map[string]*ast.Module, error) {
	tests := map[string]*ast.Module{}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(name, "_test.rego") && !(all && strings.HasSuffix(name, ".rego")) {
			return nil
		}
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		file := path.Join(prefix, name)
		m, err := ast.ParseModuleWithOpts(file, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
		if err != nil {
			return err
		}
		tests[file] = m
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load policy tests: %w", err)
	}
	return tests, nil
}

// roundTrip deep-copies JSON data.
func roundTrip(data map[string]any) (map[string]any, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("copy policy data: %w", err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("copy policy data: %w", err)
	}
	if out == nil {
		out = map[string]any{}
	}
	return out, nil
}
