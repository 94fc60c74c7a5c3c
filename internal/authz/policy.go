package authz

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/loader"
)

// DecisionPath is the one entrypoint every policy must define.
const DecisionPath = "authz/decision"

var decisionRef = ast.MustParseRef("data.authz.decision")

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

// LoadPolicy reads fsys as an OPA bundle (only data.json/data.yaml become
// data, at their folder's path), compiles it and checks that
// data.authz.decision exists. Files named *_test.rego are kept apart as the
// policy's tests. Errors name the file and line.
func LoadPolicy(fsys fs.FS) (*Policy, error) {
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

// LoadPolicyDir is LoadPolicy for a folder on disk.
func LoadPolicyDir(dir string) (*Policy, error) {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("policy %s: not a readable folder", dir)
	}
	p, err := loadPolicyDir(dir)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", dir, err)
	}
	return p, nil
}

// CheckPolicyDir loads and checks a policy folder and returns its revision.
func CheckPolicyDir(dir string) (string, error) {
	p, err := LoadPolicyDir(dir)
	if err != nil {
		return "", err
	}
	return p.Revision, nil
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
	if len(compiler.GetRulesExact(decisionRef)) == 0 {
		return errors.New("no rule data.authz.decision: the policy must define package authz with a decision rule")
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

// writeBundle serializes the policy as a bundle archive (with its revision
// in the manifest, so decision logs and OPA's status report it).
func (p *Policy) writeBundle() ([]byte, error) {
	var buf bytes.Buffer
	if err := bundle.NewWriter(&buf).Write(*p.bundle); err != nil {
		return nil, fmt.Errorf("write policy bundle: %w", err)
	}
	return buf.Bytes(), nil
}

func isTestFile(info fs.FileInfo) bool {
	return !info.IsDir() && strings.HasSuffix(info.Name(), "_test.rego")
}
