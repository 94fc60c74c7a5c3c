package gate_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/policygate/policygate/internal/gate"
)

func TestPathRulesSplit(t *testing.T) {
	tests := []struct {
		name  string
		rules gate.PathRules
		in    string
		want  []string // nil: refused
	}{
		{name: "root", in: "/", want: []string{}},
		{name: "plain", in: "/api/private", want: []string{"api", "private"}},
		{name: "trailing_slash_kept", in: "/orders/42/", want: []string{"orders", "42", ""}},
		{name: "utf8_escaped", in: "/api/caf%C3%A9", want: []string{"api", "café"}},
		{name: "utf8_raw", in: "/api/café", want: []string{"api", "café"}},
		{name: "encoded_space", in: "/a%20b", want: []string{"a b"}},
		{name: "encoded_letters", in: "/%61dmin", want: []string{"admin"}},
		{name: "empty", in: ""},
		{name: "relative", in: "api"},
		{name: "double_slash", in: "/api//private"},
		{name: "leading_double_slash", in: "//admin"},
		{name: "two_trailing_slashes", in: "/api//"},
		{name: "dot", in: "/api/./x"},
		{name: "dot_dot", in: "/api/../admin"},
		{name: "encoded_dot_dot", in: "/api/%2e%2E/admin"},
		{name: "final_dot_dot", in: "/api/.."},
		{name: "encoded_slash", in: "/api/a%2Fb"},
		{name: "encoded_slash_lower", in: "/api/a%2fb"},
		{name: "encoded_backslash", in: "/api/a%5Cb"},
		{name: "raw_backslash", in: "/api\\..\\admin"},
		{name: "bad_escape", in: "/api/%zz"},
		{name: "truncated_escape", in: "/api/%4"},
		{name: "lone_percent", in: "/api/%"},
		{name: "percent25", in: "/%2561dmin"},
		{name: "percent25_allowed", rules: gate.PathRules{AllowPercent25: true}, in: "/%2561dmin", want: []string{"%61dmin"}},
		{name: "nul", in: "/api/%00"},
		{name: "raw_control", in: "/api/\x01"},
		{name: "del", in: "/api/%7f"},
		{name: "invalid_utf8", in: "/api/%C3"},
		{name: "overlong_utf8", in: "/api/%C0%AE%C0%AE"},
		{name: "semicolon_dot_dot", in: "/public/..;/admin"},
		{name: "semicolon_param", in: "/api/private;jsessionid=1"},
		{name: "encoded_semicolon", in: "/api/private%3Bx"},
		{name: "semicolon_allowed", rules: gate.PathRules{AllowSemicolon: true}, in: "/a;b/c%3Bd", want: []string{"a;b", "c;d"}},
		{name: "semicolon_allowed_dot_dot", rules: gate.PathRules{AllowSemicolon: true}, in: "/public/..;/admin", want: []string{"public", "..;", "admin"}},
		{name: "encoded_question_mark", in: "/api/a%3Fb"},
		{name: "encoded_hash", in: "/api/a%23b"},
		{name: "raw_hash", in: "/api/a#b"},
		{name: "raw_space", in: "/api/a b"},
		{name: "too_many_segments", in: "/" + strings.Repeat("a/", 64) + "a"},
		{name: "max_segments", in: "/" + strings.Repeat("a/", 63) + "a", want: slices.Repeat([]string{"a"}, 64)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.rules.Split(tt.in)
			if (err != nil) != (tt.want == nil) || !slices.Equal(got, tt.want) {
				t.Errorf("Split(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestSplitTarget(t *testing.T) {
	tests := []struct{ in, path, query string }{
		{"/a/b?x=1&y=2", "/a/b", "x=1&y=2"},
		{"/a/b", "/a/b", ""},
		{"/a?b?c", "/a", "b?c"},
		{"/?", "/", ""},
	}
	for _, tt := range tests {
		if p, q := gate.SplitTarget(tt.in); p != tt.path || q != tt.query {
			t.Errorf("SplitTarget(%q) = %q, %q; want %q, %q", tt.in, p, q, tt.path, tt.query)
		}
	}
}

func TestValidMethod(t *testing.T) {
	testPredicate(t, "ValidMethod", gate.ValidMethod, []stringCase{
		{"GET", true}, {"DELETE", true}, {"M-SEARCH", true}, {"BASELINE-CONTROL", true},
		{"get", false}, {"Get", false}, {"", false}, {"GE T", false}, {"GET\r\n", false},
		{"PÖST", false}, {"GET/1", false}, {strings.Repeat("A", 33), false},
	})
}

// TestIsMethodOverride: the override headers in any case, and spelt with
// "_" as CGI-style servers read them; nothing else.
func TestIsMethodOverride(t *testing.T) {
	testPredicate(t, "IsMethodOverride", gate.IsMethodOverride, []stringCase{
		{"X-HTTP-Method-Override", true},
		{"x-http-method", true},
		{"X-METHOD-OVERRIDE", true},
		{"X_HTTP_Method_Override", true},
		{"x_http_method", true},
		{"X-Method_Override", true},
		{"X-HTTP-Methods", false},
		{"X-HTTP-Method-Overrid", false},
		{"X.HTTP.Method", false},
		{"", false},
	})
}

// TestQueryOverridesMethod: a query parameter a framework could read as
// "_method", however it is spelt on the wire.
func TestQueryOverridesMethod(t *testing.T) {
	testPredicate(t, "QueryOverridesMethod", gate.QueryOverridesMethod, []stringCase{
		{"_method=DELETE", true},
		{"a=1&_method=DELETE", true},
		{"_method", true},
		{"_method=", true},
		{"_METHOD=delete", true},
		{"%5Fmethod=DELETE", true},
		{"_m%65thod=DELETE", true},
		{".method=DELETE", true},  // PHP reads "." as "_"
		{"+method=DELETE", false}, // "+" is a space, and PHP drops leading spaces
		{"x+_method=1", false},
		{"%20_method=DELETE", true}, // a leading space dropped
		{"[method=DELETE", true},    // PHP reads a lone "[" as "_"
		{"_method[]=DELETE", true},
		{"_method[a]=DELETE", true},
		{"_method%5B%5D=DELETE", true},
		{"method=DELETE", false},
		{"_methods=DELETE", false},
		{"x_method=DELETE", false},
		{"q=_method", false},
		{"q=_method%3DDELETE", false},
		{"", false},
		{"_method%zz=1", false},         // a bad escape stays as written
		{"_method%00=DELETE", true},     // PHP ends a name at NUL
		{"_method%00junk=DELETE", true}, // likewise
		{"%5Fmethod%00x=DELETE", true},  // likewise, decoded
		{"_method%00%zz=DELETE", true},  // a bad escape after it changes nothing
		{"%zz&_method=DELETE", true},    // nor one in another parameter
		{"x=1;_method=DELETE", true},    // ";" separates where PHP is told so
		{"_method%=DELETE", false},      // "%" without two hex digits stays
		{"_method%0=DELETE", false},     // likewise
		{"_%6Dethod=PUT", true},         // a letter escaped
		{"q=a%00&_methodx=1", false},
	})
}

// stringCase is one input of a predicate on strings and its answer.
type stringCase struct {
	in   string
	want bool
}

func testPredicate(t *testing.T, name string, f func(string) bool, cases []stringCase) {
	t.Helper()
	for _, tc := range cases {
		if got := f(tc.in); got != tc.want {
			t.Errorf("%s(%q) = %v, want %v", name, tc.in, got, tc.want)
		}
	}
}

func TestNormalizeHost(t *testing.T) {
	tests := []struct {
		name, in, want string // want "": refused
	}{
		{name: "plain", in: "api.example.com", want: "api.example.com"},
		{name: "upper_case", in: "API.Example.COM", want: "api.example.com"},
		{name: "port", in: "api.example.com:8443", want: "api.example.com"},
		{name: "localhost", in: "localhost", want: "localhost"},
		{name: "ipv4", in: "127.0.0.1:80", want: "127.0.0.1"},
		{name: "ipv6", in: "[::1]", want: "[::1]"},
		{name: "ipv6_port", in: "[::1]:8080", want: "[::1]"},
		{name: "ipv6_upper_long", in: "[2001:DB8:0:0:0:0:0:1]", want: "[2001:db8::1]"},
		{name: "underscore", in: "my_svc.internal", want: "my_svc.internal"},
		{name: "empty", in: ""},
		{name: "trailing_dot", in: "api.example.com."},
		{name: "trailing_dot_port", in: "api.example.com.:443"},
		{name: "non_ascii", in: "exämple.com"},
		{name: "punycode_ok", in: "xn--exmple-cua.com", want: "xn--exmple-cua.com"},
		{name: "empty_label", in: "api..example.com"},
		{name: "leading_dot", in: ".example.com"},
		{name: "bad_port", in: "api.example.com:http"},
		{name: "empty_port", in: "api.example.com:"},
		{name: "port_too_big", in: "api.example.com:65536"},
		{name: "two_colons", in: "a:1:2"},
		{name: "bare_ipv6", in: "::1"},
		{name: "ipv6_zone", in: "[fe80::1%25eth0]"},
		{name: "ipv6_unclosed", in: "[::1"},
		{name: "ipv4_in_brackets", in: "[127.0.0.1]"},
		{name: "userinfo", in: "user@api.example.com"},
		{name: "space", in: "api example.com"},
		{name: "slash", in: "api.example.com/x"},
		{name: "too_long", in: strings.Repeat("a", 254)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := gate.NormalizeHost(tt.in)
			if (err != nil) != (tt.want == "") || got != tt.want {
				t.Errorf("NormalizeHost(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}
