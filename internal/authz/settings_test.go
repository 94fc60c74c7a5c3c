package authz_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/util"

	"github.com/policygate/policygate/internal/authz"
)

// readOPAConfigText runs ReadOPAConfig on a file holding text.
func readOPAConfigText(t *testing.T, text string, env func(string) string) ([]byte, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "opa.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return authz.ReadOPAConfig(path, env)
}

// cdnService reads the url and bearer token of the "cdn" service of an
// expanded OPA configuration.
func cdnService(t *testing.T, config []byte) (url, token string) {
	t.Helper()
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
	if err := util.Unmarshal(config, &doc); err != nil {
		t.Fatalf("expanded configuration %q is not YAML: %v", config, err)
	}
	cdn := doc.Services["cdn"]
	return cdn.URL, cdn.Credentials.Bearer.Token
}

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
			got, err := readOPAConfigText(t, head+tc.token+tail, env)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ReadOPAConfig(token %s) error = %v, want %q", tc.token, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadOPAConfig(token %s) error = %v", tc.token, err)
			}
			url, token := cdnService(t, got)
			if token != tc.wantToken || url != "https://cdn.example.com" {
				t.Errorf("ReadOPAConfig(token %s): token %q, url %q; want %q, https://cdn.example.com", tc.token, token, url, tc.wantToken)
			}
		})
	}
}

// TestReadOPAConfigComments: a line whose first non-blank character is "#"
// is a YAML comment, left as written: its ${VAR}s are neither expanded nor
// required. Text after a value on the same line is not such a line.
func TestReadOPAConfigComments(t *testing.T) {
	const bundles = "bundles:\n  authz:\n    service: cdn\n    resource: bundle.tar.gz\n"
	vars := map[string]string{"BUNDLE_URL": "https://cdn.example.com", "PASS": "x"}
	env := func(name string) string { return vars[name] }
	tests := []struct {
		name      string
		config    string
		wantURL   string
		wantToken string
		wantKept  string // text the result holds as written
		wantErr   string
	}{
		{
			name:     "comment_unset_not_required",
			config:   "# ${VAR}s are expanded\nservices:\n  cdn:\n    url: ${BUNDLE_URL}\n" + bundles,
			wantURL:  "https://cdn.example.com",
			wantKept: "# ${VAR}s are expanded\n",
		},
		{
			name:     "indented_commented_out_setting",
			config:   "services:\n  cdn:\n    url: ${BUNDLE_URL}\n    # credentials:\n    #   bearer:\n    #     token: ${BUNDLE_TOKEN}\n" + bundles,
			wantURL:  "https://cdn.example.com",
			wantKept: "    #     token: ${BUNDLE_TOKEN}\n",
		},
		{
			name:     "comment_set_var_not_expanded",
			config:   "# token ${PASS}\nservices:\n  cdn:\n    url: ${BUNDLE_URL}\n" + bundles,
			wantURL:  "https://cdn.example.com",
			wantKept: "# token ${PASS}\n",
		},
		{
			name:     "crlf_comment",
			config:   "# ${NOT_SET}\r\nservices:\r\n  cdn:\r\n    url: ${BUNDLE_URL}\r\n" + bundles,
			wantURL:  "https://cdn.example.com",
			wantKept: "# ${NOT_SET}\r\n",
		},
		{
			name:     "last_line_comment_without_newline",
			config:   "services:\n  cdn:\n    url: ${BUNDLE_URL}\n" + bundles + "# ${NOT_SET}",
			wantURL:  "https://cdn.example.com",
			wantKept: "# ${NOT_SET}",
		},
		{
			name:      "trailing_comment_expanded",
			config:    "services:\n  cdn:\n    url: ${BUNDLE_URL} # via ${PASS}\n    credentials:\n      bearer:\n        token: t\n" + bundles,
			wantURL:   "https://cdn.example.com",
			wantToken: "t",
			wantKept:  "# via x\n",
		},
		{
			name:    "trailing_comment_unset_required",
			config:  "services:\n  cdn:\n    url: ${BUNDLE_URL} # ${NOT_SET}\n" + bundles,
			wantErr: "unset variables: NOT_SET",
		},
		{
			name:      "hash_inside_value_expanded",
			config:    "services:\n  cdn:\n    url: ${BUNDLE_URL}\n    credentials:\n      bearer:\n        token: 'a#${PASS}'\n" + bundles,
			wantURL:   "https://cdn.example.com",
			wantToken: "a#x",
		},
		{
			name:    "unset_on_real_line_after_comments",
			config:  "# ${COMMENTED}\nservices:\n  cdn:\n    url: ${BUNDLE_URL}\n    # ${ALSO_COMMENTED}\n    credentials:\n      bearer:\n        token: ${NOT_SET}\n" + bundles,
			wantErr: "unset variables: NOT_SET",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readOPAConfigText(t, tc.config, env)
			if tc.wantErr != "" {
				if err == nil || !strings.HasSuffix(err.Error(), tc.wantErr) {
					t.Fatalf("ReadOPAConfig(%q) error = %v, want one ending %q", tc.config, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadOPAConfig(%q) error = %v", tc.config, err)
			}
			if !strings.Contains(string(got), tc.wantKept) {
				t.Errorf("ReadOPAConfig(%q) = %q, want it to hold %q", tc.config, got, tc.wantKept)
			}
			url, token := cdnService(t, got)
			if url != tc.wantURL || token != tc.wantToken {
				t.Errorf("ReadOPAConfig(%q): url %q, token %q; want %q, %q", tc.config, url, token, tc.wantURL, tc.wantToken)
			}
		})
	}
}
