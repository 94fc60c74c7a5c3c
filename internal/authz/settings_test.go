package authz_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/util"

	"github.com/policygate/policygate/internal/authz"
)

// TestReadOPAConfigExpansion: only ${VAR} is expanded, as `opa run` does;
// $VAR and $$ stay as written, so a "$" in a bundle credential survives.
func TestReadOPAConfigExpansion(t *testing.T) {
	const head = "services:\n  cdn:\n    url: ${BUNDLE_URL}\n    credentials:\n      bearer:\n        token: "
	const tail = "\nbundles:\n  authz:\n    service: cdn\n    resource: bundle.tar.gz\n"
	vars := map[string]string{"BUNDLE_URL": "https://cdn.example.com", "TOKEN": "t0k$n", "PASS": "x", "HOME": "/root"}
	env := func(name string) string { return vars[name] }
	tests := []struct {
		name      string
		token     string
		wantToken string
		wantErr   string
	}{
		{name: "braced", token: "${TOKEN}", wantToken: "t0k$n"},
		{name: "dollar_in_secret", token: "'s3cr$t'", wantToken: "s3cr$t"},
		{name: "dollar_var_not_expanded", token: "'p$PASS'", wantToken: "p$PASS"},
		{name: "double_dollar_kept", token: "'a$$b'", wantToken: "a$$b"},
		{name: "trailing_dollar", token: "'abc$'", wantToken: "abc$"},
		{name: "braced_inside_text", token: "'pre-${PASS}-post'", wantToken: "pre-x-post"},
		{name: "not_a_name_kept", token: "'${not a name}'", wantToken: "${not a name}"},
		{name: "unclosed_brace_kept", token: "'${PASS'", wantToken: "${PASS"},
		{name: "unset_braced", token: "${NOT_SET}", wantErr: "unset variables: NOT_SET"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "opa.yaml")
			if err := os.WriteFile(path, []byte(head+tc.token+tail), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := authz.ReadOPAConfig(path, env)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ReadOPAConfig(token %s) error = %v, want %q", tc.token, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadOPAConfig(token %s) error = %v", tc.token, err)
			}
			var doc struct {
				Services map[string]struct {
					URL         string `json:"url"`
					Credentials struct {
						Bearer struct {
							Token string `json:"token"`
						} `json:"bearer"`
					} `json:"credentials"`
				} `json:"services"`
			}
			if err := util.Unmarshal(got, &doc); err != nil {
				t.Fatal(err)
			}
			cdn := doc.Services["cdn"]
			if cdn.Credentials.Bearer.Token != tc.wantToken || cdn.URL != "https://cdn.example.com" {
				t.Errorf("ReadOPAConfig(token %s): token %q, url %q; want %q, https://cdn.example.com", tc.token, cdn.Credentials.Bearer.Token, cdn.URL, tc.wantToken)
			}
		})
	}
}
