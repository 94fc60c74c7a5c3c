package authz

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/loader"
)

// DecisionPath is the one entrypoint every policy must define.
const DecisionPath = "authz/decision"

var decisionRef = ast.MustParseRef("data.authz.decision")

// CheckPolicyDir loads a policy folder the way the bundle plugin will (only
// data.json/data.yaml become data, at their folder's path), compiles it, and
// checks that data.authz.decision exists. It returns the folder's content
// revision (a hash of its policy and data files).
func CheckPolicyDir(dir string) (string, error) {
	b, err := loader.NewFileLoader().WithRegoVersion(ast.RegoV1).AsBundle(dir)
	if err != nil {
		return "", fmt.Errorf("load policy %s: %w", dir, err)
	}
	if err := compileBundle(b); err != nil {
		return "", fmt.Errorf("policy %s: %w", dir, err)
	}
	return contentRevision(dir)
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

// contentRevision hashes the files a bundle load reads, so a policy folder
// has a stable revision that changes with every edit.
func contentRevision(dir string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !isPolicyFile(d.Name()) {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.ToSlash(rel), len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hash policy %s: %w", dir, err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:16], nil
}

func isPolicyFile(name string) bool {
	return strings.HasSuffix(name, ".rego") || name == "data.json" || name == "data.yaml" || name == ".manifest"
}

// MaterializeFS copies the policy files of fsys into a new temporary folder
// so the bundle plugin can load them; remove it when done.
func MaterializeFS(fsys fs.FS) (string, error) {
	dir, err := os.MkdirTemp("", "policygate-policy-")
	if err != nil {
		return "", fmt.Errorf("materialize policy: %w", err)
	}
	err = fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.FromSlash(path))
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !isPolicyFile(d.Name()) {
			return nil
		}
		b, err := fs.ReadFile(fsys, path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("materialize policy: %w", err)
	}
	return dir, nil
}
