package policies_test

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// deployCopies are the folders deploy/sync-policy.sh writes: kustomize and
// Helm read nothing outside their own folder, so the base and the chart
// ship copies of the policy and its tests.
var deployCopies = []string{
	"deploy/kubernetes/base/policy",
	"deploy/helm/policygate/files/policy",
}

// TestDeployPolicyCopies fails when a copy of the policy in the Kubernetes
// base or the Helm chart differs from policies/ and policies_test/, so a
// policy fix cannot land without reaching the manifests (.ci/deploy, which
// also checks this, is not part of every CI run).
func TestDeployPolicyCopies(t *testing.T) {
	want, err := expectedPolicyCopy("..")
	if err != nil {
		t.Fatalf("build the expected copy: %v", err)
	}
	for _, dir := range deployCopies {
		got, err := readTree(filepath.Join("..", filepath.FromSlash(dir)))
		if err != nil {
			t.Fatalf("read %s: %v", dir, err)
		}
		if diffs := diffTrees(want, got); len(diffs) > 0 {
			t.Errorf("%s differs from policies/ and policies_test/; run deploy/sync-policy.sh and commit the copies:\n\t%s",
				dir, strings.Join(diffs, "\n\t"))
		}
	}
}

// expectedPolicyCopy builds, from the repository at root, the tree that
// deploy/sync-policy.sh writes into each copy, keyed by slash path: a file
// maps to its content, a folder (key ending in "/") to "". It follows the
// script: the folders named by policies/policies.go's //go:embed lines,
// their *.rego and *.json files except *_test.rego (hidden ones included,
// as find lists them); then, in tests/, every policies_test/*_test.rego
// (not hidden, as a shell glob) whose X.rego is not beside it.
func expectedPolicyCopy(root string) (map[string]string, error) {
	tree := map[string]string{"tests/": ""}
	add := func(name string, data []byte) {
		tree[name] = string(data)
		for d := pathDir(name); d != ""; d = pathDir(d) {
			tree[d+"/"] = ""
		}
	}

	src, err := os.ReadFile(filepath.Join(root, "policies", "policies.go"))
	if err != nil {
		return nil, err
	}
	var embedded []string
	for line := range strings.Lines(string(src)) {
		if rest, ok := strings.CutPrefix(line, "//go:embed "); ok {
			embedded = append(embedded, strings.Fields(rest)...)
		}
	}
	if len(embedded) == 0 {
		return nil, fmt.Errorf("no //go:embed line in policies/policies.go")
	}
	policiesDir := filepath.Join(root, "policies")
	for _, e := range embedded {
		err := filepath.WalkDir(filepath.Join(policiesDir, filepath.FromSlash(e)), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := d.Name()
			if !d.Type().IsRegular() || strings.HasSuffix(name, "_test.rego") ||
				(!strings.HasSuffix(name, ".rego") && !strings.HasSuffix(name, ".json")) {
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(policiesDir, p)
			if err != nil {
				return err
			}
			add(filepath.ToSlash(rel), data)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("embedded folder %s: %w", e, err)
		}
	}

	tests, err := filepath.Glob(filepath.Join(root, "policies_test", "*_test.rego"))
	if err != nil {
		return nil, err
	}
	for _, p := range tests {
		if strings.HasPrefix(filepath.Base(p), ".") {
			continue // a shell glob's * skips hidden files
		}
		if _, err := os.Stat(strings.TrimSuffix(p, "_test.rego") + ".rego"); err == nil {
			continue // tests a helper of the test folder, not the policy
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		add("tests/"+filepath.Base(p), data)
	}
	return tree, nil
}

// readTree reads the folder dir in expectedPolicyCopy's form.
func readTree(dir string) (map[string]string, error) {
	tree := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			tree[rel+"/"] = ""
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		tree[rel] = string(data)
		return nil
	})
	return tree, err
}

// diffTrees names, in order, each path that differs between want and got.
func diffTrees(want, got map[string]string) []string {
	var diffs []string
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			diffs = append(diffs, name+": missing from the copy")
		case w != g:
			diffs = append(diffs, name+": content differs")
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			diffs = append(diffs, name+": only in the copy")
		}
	}
	sort.Strings(diffs)
	return diffs
}

func pathDir(name string) string {
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return ""
	}
	return name[:i]
}

// TestDeployPolicyCopiesAgreeWithScript runs deploy/sync-policy.sh, the
// writer of the copies, on a copy of the repository's policy folders and on
// a tree of edge cases, and checks it writes what TestDeployPolicyCopies
// expects, so the two cannot drift apart.
func TestDeployPolicyCopiesAgreeWithScript(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err == nil {
		// cp --parents: GNU's cp, which has --version (BSD's has neither).
		err = exec.Command("cp", "--version").Run()
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("deploy/sync-policy.sh needs bash and GNU cp: %v", err)
		}
		t.Skipf("deploy/sync-policy.sh needs bash and GNU cp: %v", err)
	}
	script, err := os.ReadFile("../deploy/sync-policy.sh")
	if err != nil {
		t.Fatal(err)
	}
	repository := map[string]string{}
	err = filepath.WalkDir("../policies", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		repository[strings.TrimPrefix(filepath.ToSlash(p), "../")] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Type().IsRegular() {
			data, err := os.ReadFile(e.Name())
			if err != nil {
				t.Fatal(err)
			}
			repository["policies_test/"+e.Name()] = string(data)
		}
	}
	tests := []struct {
		name  string
		files map[string]string
		want  []string // the files the copy must hold; nil: not listed
	}{
		{name: "repository", files: repository},
		{name: "edge_cases", files: map[string]string{
			"policies/policies.go":                "package policies\n\n//go:embed authz  system\n//go:embed extra.json\nvar FS embed.FS\n",
			"policies/authz/authz.rego":           "package authz\n",
			"policies/authz/data.json":            "{}\n",
			"policies/authz/authz_test.rego":      "package authz_test\n",
			"policies/authz/README.md":            "not policy\n",
			"policies/authz/.hidden.rego":         "package hidden\n",
			"policies/system/log/mask.rego":       "package system.log\n",
			"policies/system/log/deep/x.json":     "[]\n",
			"policies/extra.json":                 "{\"a\": 1}\n",
			"policies/schemas/input.json":         "{}\n",
			"policies_test/authz_test.rego":       "package authz_test\n",
			"policies_test/helper.rego":           "package helper\n",
			"policies_test/helper_test.rego":      "package helper_test\n",
			"policies_test/.hidden_test.rego":     "package hidden_test\n",
			"policies_test/notes_test.json":       "{}\n",
			"policies_test/structure/s_test.rego": "package s_test\n",
		}, want: []string{
			"authz/.hidden.rego", "authz/authz.rego", "authz/data.json", "extra.json",
			"system/log/deep/x.json", "system/log/mask.rego", "tests/authz_test.rego",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			tc.files["deploy/sync-policy.sh"] = string(script)
			for name, data := range tc.files {
				p := filepath.Join(root, filepath.FromSlash(name))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command(bash, filepath.Join(root, "deploy", "sync-policy.sh"))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("deploy/sync-policy.sh: %v\n%s", err, out)
			}
			want, err := expectedPolicyCopy(root)
			if err != nil {
				t.Fatalf("expectedPolicyCopy: %v", err)
			}
			if tc.want != nil {
				var files []string
				for name := range want {
					if !strings.HasSuffix(name, "/") {
						files = append(files, name)
					}
				}
				sort.Strings(files)
				if !slices.Equal(files, tc.want) {
					t.Errorf("expectedPolicyCopy files = %q, want %q", files, tc.want)
				}
			}
			for _, dir := range deployCopies {
				got, err := readTree(filepath.Join(root, filepath.FromSlash(dir)))
				if err != nil {
					t.Fatalf("read %s: %v", dir, err)
				}
				if diffs := diffTrees(want, got); len(diffs) > 0 {
					t.Errorf("deploy/sync-policy.sh wrote into %s what this test does not expect:\n\t%s", dir, strings.Join(diffs, "\n\t"))
				}
			}
		})
	}
}
