package main

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/policygate/policygate/internal/testfile"
)

func TestParseDotEnv(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		want    map[string]string
		wantErr string // a substring of the error; "" for none
	}{
		{name: "plain", src: "A=b\n", want: map[string]string{"A": "b"}},
		{name: "no_final_newline", src: "A=b", want: map[string]string{"A": "b"}},
		{name: "byte_order_mark", src: "\ufeffA=b\n", want: map[string]string{"A": "b"}},
		{name: "crlf", src: "A=b\r\nC='d'\r\n", want: map[string]string{"A": "b", "C": "d"}},
		{name: "blank_and_comment_lines", src: "\n# comment\n   # indented comment\n\nA=b\n", want: map[string]string{"A": "b"}},
		{name: "spaces_around", src: "  A =  b c  \n", want: map[string]string{"A": "b c"}},
		{name: "inline_comment", src: "AUTH0_DOMAIN=tenant.example.com # my tenant\n", want: map[string]string{"AUTH0_DOMAIN": "tenant.example.com"}},
		{name: "inline_comment_tab", src: "A=b\t# c\n", want: map[string]string{"A": "b"}},
		{name: "hash_without_space_is_value", src: "A=b#c\n", want: map[string]string{"A": "b#c"}},
		{name: "hash_first_is_value", src: "A=#b\n", want: map[string]string{"A": "#b"}},
		{name: "only_comment_is_empty", src: "A= # nothing\n", want: map[string]string{"A": ""}},
		{name: "empty", src: "A=\nB=\n", want: map[string]string{"A": "", "B": ""}},
		{name: "double_quoted_with_comment", src: `AUTH0_AUDIENCE="https://api.example.com" # prod` + "\n", want: map[string]string{"AUTH0_AUDIENCE": "https://api.example.com"}},
		{name: "double_quoted_hash_inside", src: `A="b # not a comment"` + "\n", want: map[string]string{"A": "b # not a comment"}},
		{name: "single_quoted_hash_inside", src: `A='b # not a comment' # comment` + "\n", want: map[string]string{"A": "b # not a comment"}},
		{name: "double_quoted_escapes", src: `A="l1\nl2\t\"q\" \\ \x"` + "\n", want: map[string]string{"A": "l1\nl2\t\"q\" \\ \\x"}},
		{name: "single_quoted_literal", src: `A='l1\n "q" $B'` + "\n", want: map[string]string{"A": `l1\n "q" $B`}},
		{name: "double_quoted_multiline", src: "A=\"line1\nline2\"\nB=c\n", want: map[string]string{"A": "line1\nline2", "B": "c"}},
		{name: "single_quoted_multiline", src: "A='-----BEGIN\nx\n-----END'\n", want: map[string]string{"A": "-----BEGIN\nx\n-----END"}},
		{name: "quoted_keeps_spaces", src: `A="  b  "` + "\n", want: map[string]string{"A": "  b  "}},
		{name: "export_prefix", src: "export A=b\nexport\tC='d'\n", want: map[string]string{"A": "b", "C": "d"}},
		{name: "export_as_name", src: "export=b\nexported=c\n", want: map[string]string{"export": "b", "exported": "c"}},
		{name: "no_dollar_expansion_unquoted", src: "B=x\nA=p$B$$q${B}\n", want: map[string]string{"B": "x", "A": "p$B$$q${B}"}},
		{name: "no_dollar_expansion_double_quoted", src: `A="s3cr$t${HOME}"` + "\n", want: map[string]string{"A": "s3cr$t${HOME}"}},
		{name: "equals_in_value", src: "A=b=c\n", want: map[string]string{"A": "b=c"}},
		{name: "later_wins", src: "A=1\nA=2\n", want: map[string]string{"A": "2"}},
		{name: "missing_equals", src: "A=b\nNOVALUE\n", wantErr: "2: want KEY=VALUE"},
		{name: "bad_name", src: "1A=b\n", wantErr: `1: "1A" is not a variable name`},
		{name: "name_with_space", src: "A B=c\n", wantErr: "is not a variable name"},
		{name: "unclosed_double", src: "A=b\nC=\"d\n", wantErr: "2: \"-quoted value is not closed"},
		{name: "unclosed_single", src: "C='d\n", wantErr: "1: '-quoted value is not closed"},
		{name: "junk_after_quote", src: `A="b"c` + "\n", wantErr: `1: A: unexpected "c" after the closing quote`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseDotEnv(tc.src)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseDotEnv(%q) error = %v, want %q", tc.src, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseDotEnv(%q) error = %v", tc.src, err)
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("parseDotEnv(%q) = %q, want %q", tc.src, got, tc.want)
			}
		})
	}
}

// TestDotEnvStaysOutOfTheEnvironment: .env is read into a map that the
// real environment overrides; the process environment is not changed.
func TestDotEnvStaysOutOfTheEnvironment(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".env")
	testfile.Write(t, path, "POLICYGATE_DOTENV_PROBE=from-file # comment\nLISTEN_ADDR=:9999\n")
	env, err := withDotEnv(envFunc(map[string]string{"LISTEN_ADDR": ":8080"}), path)
	if err != nil {
		t.Fatal(err)
	}
	if got := env("POLICYGATE_DOTENV_PROBE"); got != "from-file" {
		t.Errorf("env(POLICYGATE_DOTENV_PROBE) = %q, want from-file", got)
	}
	if got := env("LISTEN_ADDR"); got != ":8080" {
		t.Errorf("env(LISTEN_ADDR) = %q, want the real environment's :8080", got)
	}
	if v, ok := os.LookupEnv("POLICYGATE_DOTENV_PROBE"); ok {
		t.Errorf("the process environment got POLICYGATE_DOTENV_PROBE=%q", v)
	}
	testfile.Write(t, path, "A=\"open\n")
	if _, err := withDotEnv(envFunc(nil), path); err == nil || !strings.Contains(err.Error(), path+":1:") {
		t.Errorf("withDotEnv(unclosed quote) = %v, want an error naming %s:1", err, path)
	}
}

// TestDotEnvInlineCommentsReachConfig: the two lines configure the
// server as written, without the comment or the quotes.
func TestDotEnvInlineCommentsReachConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".env")
	testfile.Write(t, path, "AUTH0_DOMAIN=tenant.example.com # my tenant\nAUTH0_AUDIENCE=\"https://api.example.com\" # prod\n")
	env, err := withDotEnv(envFunc(nil), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	c, err := loadConfig(env, false)
	if err != nil {
		t.Fatalf("loadConfig() = %v", err)
	}
	if c.Issuer != "https://tenant.example.com/" || c.Audience != "https://api.example.com" {
		t.Errorf("issuer, audience = %q, %q; want https://tenant.example.com/, https://api.example.com", c.Issuer, c.Audience)
	}
}
