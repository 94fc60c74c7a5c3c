package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/policygate/policygate/internal/testfile"
)

func TestLoadConfigPolicySource(t *testing.T) {
	tmp := t.TempDir()
	file := func(name, content string) string {
		path := filepath.Join(tmp, name)
		testfile.Write(t, path, content)
		return path
	}
	fleet := file("opa.yaml", "services:\n  cdn:\n    url: ${BUNDLE_URL}\nbundles:\n  authz:\n    service: cdn\n    resource: bundle.tar.gz\n")
	noBundles := file("nobundles.yaml", "decision_logs:\n  console: true\n")
	notYAML := file("bad.yaml", "services: [\n")
	policyDir := filepath.Dir(file("pol/authz/authz.rego", "package authz\n"))
	policyDir = filepath.Dir(policyDir)
	file("pol_test/authz_test.rego", "package authz_test\n")
	untested := filepath.Dir(filepath.Dir(file("bare/authz/authz.rego", "package authz\n")))
	inFolder := filepath.Dir(filepath.Dir(file("inside/authz/authz_test.rego", "package authz_test\n")))

	base := map[string]string{"AUTH_ISSUER": "https://idp.example.com/", "AUTH_AUDIENCE": "https://api"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name    string
		env     map[string]string
		wantErr []string // variables named, one line each
		check   func(t *testing.T, c Config)
	}{
		{name: "opa_config_expands_variables", env: with("OPA_CONFIG", fleet, "BUNDLE_URL", "https://cdn.example.com"), check: func(t *testing.T, c Config) {
			if !strings.Contains(string(c.OPAConfig), "url: https://cdn.example.com") || c.PolicyDir != "" {
				t.Errorf("OPAConfig = %q, PolicyDir = %q", c.OPAConfig, c.PolicyDir)
			}
		}},
		{name: "opa_config_unset_variable", env: with("OPA_CONFIG", fleet), wantErr: []string{"OPA_CONFIG"}},
		{name: "opa_config_missing_file", env: with("OPA_CONFIG", filepath.Join(tmp, "missing.yaml")), wantErr: []string{"OPA_CONFIG"}},
		{name: "opa_config_not_yaml", env: with("OPA_CONFIG", notYAML), wantErr: []string{"OPA_CONFIG"}},
		{name: "opa_config_without_bundles", env: with("OPA_CONFIG", noBundles), wantErr: []string{"OPA_CONFIG"}},
		{name: "opa_config_and_policy_dir", env: with("OPA_CONFIG", fleet, "BUNDLE_URL", "https://cdn", "POLICY_DIR", policyDir), wantErr: []string{"OPA_CONFIG"}},
		{name: "decision_log_stdout", env: with("DECISION_LOG", "stdout"), check: func(t *testing.T, c Config) {
			if c.DecisionLog != "stdout" {
				t.Errorf("DecisionLog = %q", c.DecisionLog)
			}
		}},
		{name: "decision_log_off", env: with("DECISION_LOG", "off"), check: func(t *testing.T, c Config) {
			if c.DecisionLog != "" {
				t.Errorf("DecisionLog = %q, want off", c.DecisionLog)
			}
		}},
		{name: "decision_log_unknown", env: with("DECISION_LOG", "syslog"), wantErr: []string{"DECISION_LOG"}},
		{name: "tests_must_pass_sibling_folder", env: with("POLICY_DIR", policyDir, "POLICY_TESTS_MUST_PASS", "true"), check: func(t *testing.T, c Config) {
			if !c.PolicyTestsMustPass || len(c.PolicyTestDirs) != 1 || c.PolicyTestDirs[0] != policyDir+"_test" {
				t.Errorf("PolicyTestsMustPass = %v, PolicyTestDirs = %q", c.PolicyTestsMustPass, c.PolicyTestDirs)
			}
		}},
		{name: "tests_must_pass_tests_in_folder", env: with("POLICY_DIR", inFolder, "POLICY_TESTS_MUST_PASS", "1"), check: func(t *testing.T, c Config) {
			if !c.PolicyTestsMustPass || len(c.PolicyTestDirs) != 0 {
				t.Errorf("PolicyTestsMustPass = %v, PolicyTestDirs = %q", c.PolicyTestsMustPass, c.PolicyTestDirs)
			}
		}},
		{name: "tests_must_pass_false", env: with("POLICY_DIR", untested, "POLICY_TESTS_MUST_PASS", "false"), check: func(t *testing.T, c Config) {
			if c.PolicyTestsMustPass {
				t.Error("PolicyTestsMustPass = true")
			}
		}},
		{name: "tests_must_pass_without_tests", env: with("POLICY_DIR", untested, "POLICY_TESTS_MUST_PASS", "true"), wantErr: []string{"POLICY_TESTS_MUST_PASS"}},
		{name: "tests_must_pass_not_bool", env: with("POLICY_DIR", policyDir, "POLICY_TESTS_MUST_PASS", "always"), wantErr: []string{"POLICY_TESTS_MUST_PASS"}},
		{name: "tests_must_pass_with_bundles", env: with("OPA_CONFIG", fleet, "BUNDLE_URL", "https://cdn", "POLICY_TESTS_MUST_PASS", "true"), wantErr: []string{"POLICY_TESTS_MUST_PASS"}},
		{name: "tests_must_pass_embedded", env: with("POLICY_TESTS_MUST_PASS", "true"), wantErr: []string{"POLICY_TESTS_MUST_PASS"}},
	}
	t.Chdir(t.TempDir()) // no ./policies
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadConfig(envFunc(tt.env), false)
			checkConfigErrors(t, err, tt.wantErr)
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

// TestLoadConfigUnreadablePolicyDir: a POLICY_DIR the server cannot list
// stops it at configuration, naming the setting and why.
func TestLoadConfigUnreadablePolicyDir(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "file")
	testfile.Write(t, file, "package authz\n")
	locked := filepath.Join(tmp, "locked")
	testfile.Write(t, filepath.Join(locked, "authz", "authz.rego"), "package authz\n")
	if err := os.Chmod(locked, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(locked, 0o700) })
	tests := []struct {
		name, dir, wantCause string
		needsNonRoot         bool
	}{
		{name: "missing", dir: filepath.Join(tmp, "missing"), wantCause: "no such file or directory"},
		{name: "regular_file", dir: file, wantCause: "not a directory"},
		{name: "no_permission", dir: locked, wantCause: "permission denied", needsNonRoot: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.needsNonRoot && os.Geteuid() == 0 {
				t.Skip("root reads a folder of mode 000: run as another user to check the permission error")
			}
			_, err := loadConfig(envFunc(map[string]string{"AUTH_ISSUER": "https://idp.example.com/", "AUTH_AUDIENCE": "https://api", "POLICY_DIR": tt.dir}), false)
			checkConfigErrors(t, err, []string{"POLICY_DIR"})
			if want := "is not a readable folder: " + tt.wantCause; err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("loadConfig(POLICY_DIR=%s) = %v, want %q", tt.dir, err, want)
			}
		})
	}
}
