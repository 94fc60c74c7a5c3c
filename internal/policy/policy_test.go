package policy_test

import (
	"strings"
	"testing"

	"github.com/policygate/policygate/internal/policy"
	"github.com/policygate/policygate/internal/testfile"
	"github.com/policygate/policygate/policies"
)

// loadRevision is LoadDir for a test that wants the revision or the error.
func loadRevision(dir string) (string, error) {
	p, err := policy.LoadDir(dir)
	if err != nil {
		return "", err
	}
	return p.Revision, nil
}

func TestLoadDir(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		wantErr string
	}{
		{"valid", map[string]string{"authz/a.rego": "package authz\n\ndecision := {\"allowed\": false}\n"}, ""},
		{"syntax_error", map[string]string{"authz/a.rego": "package authz\n\ndecision := {\n"}, "a.rego:"},
		{"unsafe_variable", map[string]string{"authz/a.rego": "package authz\n\ndecision := {\"allowed\": x} if { x != 1 }\n"}, "unsafe"},
		{"no_decision", map[string]string{"authz/a.rego": "package authz\n\nallow := true\n"}, "data.authz.decision"},
		{"invalid_json", map[string]string{"authz/a.rego": "package authz\n\ndecision := {}\n", "authz/data.json": "{"}, "data.json"},
		{"empty", map[string]string{}, "data.authz.decision"},
		{"duplicate_method", map[string]string{"authz/a.rego": "package authz\n\ndecision := {}\n",
			"authz/data.json": `{"routes": {"/admin": {"GET": {"access": "authenticated"}, "GET": {"access": "public"}}}}`},
			`authz/data.json: key "routes" > "/admin" > "GET" appears twice`},
		{"duplicate_route", map[string]string{"authz/a.rego": "package authz\n\ndecision := {}\n",
			"authz/data.json": `{"routes": {"/a": {}, "/b": {}, "/a": {}}}`},
			`key "routes" > "/a" appears twice`},
		{"duplicate_in_list", map[string]string{"authz/a.rego": "package authz\n\ndecision := {}\n",
			"authz/data.json": `{"headers": [{"name": "x"}, {"name": "y", "name": "z"}]}`},
			`key "headers" > [1] > "name" appears twice`},
		{"duplicate_top_level", map[string]string{"authz/a.rego": "package authz\n\ndecision := {}\n",
			"authz/data.json": `{"routes": {}, "routes": {"/a": {"GET": {"access": "public"}}}}`},
			`key "routes" appears twice`},
		{"duplicate_yaml", map[string]string{"authz/a.rego": "package authz\n\ndecision := {}\n",
			"authz/data.yaml": "routes:\n  /admin:\n    GET: {access: authenticated}\n    GET: {access: public}\n"},
			`authz/data.yaml: key "routes" > "/admin" > "GET" appears twice in one object (line 4)`},
		{"duplicate_yml_in_list", map[string]string{"authz/a.rego": "package authz\n\ndecision := {}\n",
			"authz/data.yml": "headers:\n  - name: x\n  - name: y\n    name: z\n"},
			`key "headers" > [1] > "name" appears twice`},
		{"duplicate_yaml_number_spellings", map[string]string{"authz/a.rego": "package authz\n\ndecision := {}\n",
			"authz/data.yaml": "x: {0x1: a, 1: b}\n"},
			`key "x" > "1" appears twice`},
		{"duplicate_yaml_float_and_int", map[string]string{"authz/a.rego": "package authz\n\ndecision := {}\n",
			"authz/data.yaml": "x: {1.0: a, 1: b}\n"},
			`key "x" > "1" appears twice`},
		{"yaml_inf_spellings", map[string]string{"authz/a.rego": "package authz\n\ndecision := {}\n",
			"authz/data.yaml": "x: {.inf: a, \".inf\": b}\n"},
			`key "x" > ".inf" appears twice`},
		{"yaml_float32_equal", map[string]string{"authz/a.rego": "package authz\n\ndecision := {}\n",
			"authz/data.yaml": "x: {1.00000001: a, 1.00000002: b}\n"},
			`key "x" > "1" appears twice`},
		{"yaml_dates_as_written", map[string]string{"authz/a.rego": "package authz\n\ndecision := {\"allowed\": false}\n",
			"authz/data.yaml": "holidays:\n  2026-12-25: closed\n  2026-12-25T00:00:00Z: open\n"},
			""},
		{"yaml_alias_key", map[string]string{"authz/a.rego": "package authz\n\ndecision := {}\n",
			"authz/data.yaml": "names: [&h GET]\nroutes:\n  /a:\n    *h : {access: public}\n    GET: {access: authenticated}\n"},
			`key "routes" > "/a" > "GET" appears twice`},
		{"yaml_after_alias_key", map[string]string{"authz/a.rego": "package authz\n\ndecision := {}\n",
			"authz/data.yaml": "x: &k a\nm:\n  *k : 1\n  b: {c: 1, c: 2}\n"},
			`key "m" > "b" > "c" appears twice`},
		{"yaml_merge_key", map[string]string{"authz/a.rego": "package authz\n\ndecision := {}\n",
			"authz/data.yaml": "routes:\n  /a:\n    GET: {access: public}\n    <<: {GET: {access: authenticated}}\n"},
			`a merge key (<<) at "routes" > "/a" > << (line 4)`},
		{"yaml_plain", map[string]string{"authz/a.rego": "package authz\n\ndecision := {\"allowed\": false}\n",
			"authz/data.yaml": "routes:\n  /a: {GET: {access: public}}\n  /b: {GET: {access: public}}\nn: {1: a, 2: b, \"x\": c}\n"},
			""},
		{"object_then_string_in_list", map[string]string{"authz/a.rego": "package authz\n\ndecision := {\"allowed\": false}\n",
			"authz/data.json": `{"x": [{"a": 1}, "b", ["c", {"d": [1, {"e": "f"}]}], "g"], "h": {"i": [[{}], "j"]}}`},
			""},
		{"same_key_apart", map[string]string{"authz/a.rego": "package authz\n\ndecision := {\"allowed\": false}\n",
			"authz/data.json": `{"routes": {"/a": {"GET": {"access": "public"}}, "/b": {"GET": {"access": "public"}}}, "x": [{"GET": 1}, {"GET": 2}]}`},
			""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rev, err := loadRevision(testfile.Dir(t, tt.files))
			if tt.wantErr == "" {
				if err != nil || !strings.HasPrefix(rev, "sha256:") {
					t.Errorf("LoadDir() = %q, %v", rev, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("LoadDir() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestEmbeddedPolicyMatchesFolder(t *testing.T) {
	embedded, err := policy.Load(policies.FS)
	if err != nil {
		t.Fatal(err)
	}
	folder, err := policy.LoadDir("../../policies")
	if err != nil {
		t.Fatal(err)
	}
	if embedded.Revision != folder.Revision {
		t.Errorf("embedded revision %s != folder revision %s: the go:embed list misses a policy file", embedded.Revision, folder.Revision)
	}
}
