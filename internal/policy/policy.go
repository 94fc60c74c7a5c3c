package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/loader"
)

// The one entrypoint every policy must define, named once: Entrypoint is
// its path as OPA's HTTP API, the SDK and decision logs name it, Query the
// same rule as a Rego reference.
const (
	entrypointPackage = "authz"
	entrypointRule    = "decision"
	Entrypoint        = entrypointPackage + "/" + entrypointRule
	Query             = "data." + entrypointPackage + "." + entrypointRule
)

// Policy is one version of a policy folder, loaded and compiled: a
// candidate until the engine activates it. What was checked, hashed and
// tested is exactly what gets activated; the folder is read only once.
type Policy struct {
	// Revision is a hash of the policy's modules and data.
	Revision string
	bundle   *bundle.Bundle
	// tests are the *_test.rego modules found in the folder; they are
	// not part of the policy (like `opa build --ignore '*_test.rego'`).
	tests map[string]*ast.Module
}

// Load reads fsys as an OPA bundle (only data.json/data.yaml become
// data, at their folder's path), compiles it and checks that
// the entrypoint exists. A data.json naming a key twice is refused. Files named *_test.rego are kept apart as the
// policy's tests. Errors name the file and line.
func Load(fsys fs.FS) (*Policy, error) {
	if err := refuseDuplicateKeys(fsys); err != nil {
		return nil, err
	}
	b, err := loader.NewFileLoader().
		WithFS(fsys).
		WithRegoVersion(ast.RegoV1).
		WithProcessAnnotation(true).
		WithFilter(func(_ string, info fs.FileInfo, _ int) bool { return isTestFile(info) }).
		AsBundle(".")
	if err != nil {
		// "bundle .: " says nothing; the file names inside do.
		if inner := errors.Unwrap(err); inner != nil && strings.HasPrefix(err.Error(), "bundle .: ") {
			err = inner
		}
		return nil, err
	}
	if err := compileBundle(b); err != nil {
		return nil, err
	}
	tests, err := loadTests(fsys, ".")
	if err != nil {
		return nil, err
	}
	rev, err := bundleRevision(b)
	if err != nil {
		return nil, err
	}
	b.Manifest.Revision = rev
	return &Policy{Revision: rev, bundle: b, tests: tests}, nil
}

func compileBundle(b *bundle.Bundle) error {
	modules := make(map[string]*ast.Module, len(b.Modules))
	for _, m := range b.Modules {
		modules[m.Path] = m.Parsed
	}
	compiler := ast.NewCompiler().WithDefaultRegoVersion(ast.RegoV1)
	if compiler.Compile(modules); compiler.Failed() {
		return compiler.Errors
	}
	if len(compiler.GetRulesExact(ast.MustParseRef(Query))) == 0 {
		return errors.New("no rule " + Query + ": the policy must define package " + entrypointPackage + " with a " + entrypointRule + " rule")
	}
	return nil
}

// bundleRevision hashes what the bundle activates: every module's source
// and the data, so a policy folder has a stable revision that changes with
// every edit that matters.
func bundleRevision(b *bundle.Bundle) (string, error) {
	h := sha256.New()
	modules := slices.Clone(b.Modules)
	slices.SortFunc(modules, func(x, y bundle.ModuleFile) int { return strings.Compare(x.Path, y.Path) })
	for _, m := range modules {
		fmt.Fprintf(h, "%s\x00%d\x00", strings.TrimPrefix(m.Path, "/"), len(m.Raw))
		h.Write(m.Raw)
	}
	data, err := json.Marshal(b.Data) // map keys come out sorted
	if err != nil {
		return "", fmt.Errorf("hash policy data: %w", err)
	}
	fmt.Fprintf(h, "data\x00%d\x00", len(data))
	h.Write(data)
	if b.Manifest.Roots != nil {
		fmt.Fprintf(h, "roots\x00%q", *b.Manifest.Roots)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:16], nil
}

// Bundle serializes the policy as a bundle archive (with its revision in
// the manifest, so decision logs and OPA's status report it).
func (p *Policy) Bundle() ([]byte, error) {
	var buf bytes.Buffer
	if err := bundle.NewWriter(&buf).Write(*p.bundle); err != nil {
		return nil, fmt.Errorf("write policy bundle: %w", err)
	}
	return buf.Bytes(), nil
}

// Data is the policy's data document, to be read, not changed.
func (p *Policy) Data() map[string]any { return p.bundle.Data }

func isTestFile(info fs.FileInfo) bool {
	return !info.IsDir() && strings.HasSuffix(info.Name(), "_test.rego")
}
