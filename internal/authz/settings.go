package authz

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/util"
)

// The rules for the settings an operator gives the engine (OPA_CONFIG,
// POLICY_TESTS_MUST_PASS): what an OPA configuration file must hold, and
// where a policy folder's tests live.

// maxOPAConfigBytes bounds an OPA configuration file.
const maxOPAConfigBytes = 1 << 20

// testDirSuffix names the folder beside a policy folder that holds its
// tests: policies -> policies_test.
const testDirSuffix = "_test"

// ReadOPAConfig reads an OPA configuration file (YAML or JSON) for
// Config.OPAConfig and expands its ${VAR}s from getenv, as `opa run` does
// (the SDK does not): only the braced form, so $VAR and $$ stay as written
// and a "$" in a credential survives. A variable that is not set is an
// error, not an empty string: a missing bundle credential should stop the
// server, not make every download fail. So is a configuration without
// bundles or discovery, under which no policy would ever load.
func ReadOPAConfig(path string, getenv func(string) string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(raw) > maxOPAConfigBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxOPAConfigBytes)
	}
	var unset []string
	expanded := bracedVarRE.ReplaceAllStringFunc(string(raw), func(ref string) string {
		name := ref[2 : len(ref)-1]
		v := getenv(name)
		if v == "" && !slices.Contains(unset, name) {
			unset = append(unset, name)
		}
		return v
	})
	if len(unset) > 0 {
		return nil, fmt.Errorf("%s uses unset variables: %s", path, strings.Join(unset, ", "))
	}
	var m map[string]any
	if err := util.Unmarshal([]byte(expanded), &m); err != nil {
		return nil, fmt.Errorf("%s is not YAML or JSON: %v", path, err)
	}
	if m["bundles"] == nil && m["discovery"] == nil {
		return nil, fmt.Errorf("%s configures no bundles (nor discovery): no policy would ever load", path)
	}
	return []byte(expanded), nil
}

// bracedVarRE matches ${NAME}, the one form of variable that OPA's own
// configuration loader expands.
var bracedVarRE = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*\}`)

// PolicyTestDirs is Config.TestDirs for a policy folder: the folder beside
// it holding its tests (policies -> policies_test), if it exists. It is an
// error when neither it nor the policy folder holds a *_test.rego file: a
// guard that runs no test would let every version through.
func PolicyTestDirs(policyDir string) ([]string, error) {
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
