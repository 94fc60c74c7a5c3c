package authz

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

func mustIndex(t testing.TB, routes, hosts string) *routeIndex {
	t.Helper()
	var r, h ast.Value
	if routes != "" {
		r = ast.MustParseTerm(routes).Value
	}
	if hosts != "" {
		h = ast.MustParseTerm(hosts).Value
	}
	x, err := buildIndex(r, h)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func keysOf(ks []*routeKey) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.key
	}
	return out
}

func TestMatch(t *testing.T) {
	const pub = `{"access": "public"}`
	x := mustIndex(t, `{
		"/": {"GET": `+pub+`},
		"/users/{id}": {"GET": `+pub+`},
		"/users/{id}/": {"GET": `+pub+`},
		"/users/me": {"*": `+pub+`},
		"/users/{id}/messages/{message}": {"GET": `+pub+`},
		"/files/*": {"GET": `+pub+`},
		"/files/secret/*": {"GET": `+pub+`},
		"/files/{name}/raw": {"POST": `+pub+`},
		"/*": {"OPTIONS": `+pub+`},
		"/reports": {"HEAD": `+pub+`}
	}`, `{"admin.example.com": {"routes": {"/users/{id}": {"DELETE": `+pub+`}}}}`)
	tests := []struct {
		name   string
		host   string
		method string
		path   []string
		strict bool
		want   []string
	}{
		{name: "root", method: "GET", path: []string{}, want: []string{"/"}},
		{name: "placeholder", method: "GET", path: []string{"users", "42"}, want: []string{"/users/{id}"}},
		{name: "placeholder_literal_text", method: "GET", path: []string{"users", "{id}"}, want: []string{"/users/{id}"}},
		{name: "literal_and_placeholder_overlap", method: "GET", path: []string{"users", "me"}, want: []string{"/users/me", "/users/{id}"}},
		{name: "trailing_slash_literal", method: "GET", path: []string{"users", "42", ""}, want: []string{"/users/{id}/"}},
		{name: "placeholder_not_empty", method: "GET", path: []string{"users", ""}, want: nil},
		{name: "placeholder_not_more_segments", method: "GET", path: []string{"users", "42", "x"}, want: nil},
		{name: "two_placeholders", method: "GET", path: []string{"users", "42", "messages", "7"}, want: []string{"/users/{id}/messages/{message}"}},
		{name: "any_method", method: "PATCH", path: []string{"users", "me"}, want: []string{"/users/me"}},
		{name: "wrong_method", method: "POST", path: []string{"users", "42"}, want: nil},
		{name: "head_takes_get", method: "HEAD", path: []string{"users", "42"}, want: []string{"/users/{id}"}},
		{name: "head_rule", method: "HEAD", path: []string{"reports"}, want: []string{"/reports"}},
		{name: "get_not_head_rule", method: "GET", path: []string{"reports"}, want: nil},
		{name: "rest_one", method: "GET", path: []string{"files", "a"}, want: []string{"/files/*"}},
		{name: "rest_nested_overlap", method: "GET", path: []string{"files", "secret", "plan.txt"}, want: []string{"/files/*", "/files/secret/*"}},
		{name: "rest_trailing_slash", method: "GET", path: []string{"files", "a", ""}, want: []string{"/files/*"}},
		{name: "rest_needs_segment", method: "GET", path: []string{"files"}, want: nil},
		{name: "rest_not_empty", method: "GET", path: []string{"files", ""}, want: nil},
		{name: "rest_from_root", method: "OPTIONS", path: []string{"a", "b"}, want: []string{"/*"}},
		{name: "rest_from_root_not_root", method: "OPTIONS", path: []string{}, want: nil},
		{name: "case_sensitive", method: "GET", path: []string{"USERS", "42"}, want: nil},
		{name: "dot_dot", method: "GET", path: []string{"files", ".."}, want: nil},
		{name: "empty_inner", method: "GET", path: []string{"users", "", "messages", "7"}, want: nil},
		{name: "slash_in_segment", method: "GET", path: []string{"users/42"}, want: nil},
		{name: "host_table", host: "admin.example.com", method: "DELETE", path: []string{"users", "42"}, want: []string{"/users/{id}"}},
		{name: "host_table_replaces_default", host: "admin.example.com", method: "GET", path: []string{"users", "42"}, want: nil},
		{name: "other_host_default", host: "www.example.com", method: "GET", path: []string{"users", "42"}, want: []string{"/users/{id}"}},
		{name: "strict_other_host_refused", host: "www.example.com", method: "GET", path: []string{"users", "42"}, strict: true, want: nil},
		{name: "strict_own_table", host: "admin.example.com", method: "DELETE", path: []string{"users", "42"}, strict: true, want: []string{"/users/{id}"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := keysOf(x.match(tt.host, tt.method, tt.path, tt.strict))
			if !slices.Equal(got, tt.want) && len(got)+len(tt.want) > 0 {
				t.Errorf("match(%q, %s, %q) = %q, want %q", tt.host, tt.method, tt.path, got, tt.want)
			}
		})
	}
	t.Run("strict_without_host_tables", func(t *testing.T) {
		x := mustIndex(t, `{"/a": {"GET": `+pub+`}}`, "")
		if got := keysOf(x.match("any.example", "GET", []string{"a"}, true)); !slices.Equal(got, []string{"/a"}) {
			t.Errorf("match = %q, want the default table while no host table exists", got)
		}
	})
	t.Run("params", func(t *testing.T) {
		ks := x.match("", "GET", []string{"users", "42", "messages", "7"}, false)
		got := ks[0].paramsObject([]string{"users", "42", "messages", "7"}).String()
		if want := `{"id": "42", "message": "7"}`; got != want {
			t.Errorf("params = %s, want %s", got, want)
		}
	})
}

func TestBuildIndexRefusesNonCanonical(t *testing.T) {
	const pub = `{"access": "public"}`
	tests := []struct {
		name, routes, hosts, wantErr string
	}{
		{name: "param_twice", routes: `{"/a/{id}/b/{id}": {"GET": ` + pub + `}}`, wantErr: `"/a/{id}/b/{id}"`},
		{name: "star_not_last", routes: `{"/a/*/b": {"GET": ` + pub + `}}`, wantErr: `"/a/*/b"`},
		{name: "star_in_segment", routes: `{"/a/b*": {"GET": ` + pub + `}}`, wantErr: `"/a/b*"`},
		{name: "two_placeholders_in_segment", routes: `{"/a/{a}x{b}": {"GET": ` + pub + `}}`, wantErr: `"/a/{a}x{b}"`},
		{name: "half_placeholder", routes: `{"/half/{open": {"GET": ` + pub + `}}`, wantErr: `"/half/{open"`},
		{name: "bad_param_name", routes: `{"/a/{1x}": {"GET": ` + pub + `}}`, wantErr: `"/a/{1x}"`},
		{name: "no_leading_slash", routes: `{"a/b": {"GET": ` + pub + `}}`, wantErr: `"a/b"`},
		{name: "empty_inner_segment", routes: `{"/a//b": {"GET": ` + pub + `}}`, wantErr: `"/a//b"`},
		{name: "dot_segment", routes: `{"/a/../b": {"GET": ` + pub + `}}`, wantErr: `"/a/../b"`},
		{name: "lower_case_method", routes: `{"/a": {"get": ` + pub + `}}`, wantErr: `"get"`},
		{name: "no_methods", routes: `{"/a": {}}`, wantErr: `"/a"`},
		{name: "table_not_object", routes: `[]`, wantErr: "routes"},
		{name: "invalid_rule", routes: `{"/a": {"GET": {"access": "anyone"}}}`, wantErr: `routes["/a"]["GET"]`},
		{name: "misspelt_rule_key", routes: `{"/a": {"GET": {"access": "public", "scope": []}}}`, wantErr: `unknown rule key "scope"`},
		{name: "scopes_not_strings", routes: `{"/a": {"GET": {"access": "public", "scopes": [1]}}}`, wantErr: `"scopes"`},
		{name: "host_upper_case", hosts: `{"API.example.com": {"routes": {}}}`, wantErr: `"API.example.com"`},
		{name: "host_with_port", hosts: `{"api.example.com:443": {"routes": {}}}`, wantErr: `"api.example.com:443"`},
		{name: "host_trailing_dot", hosts: `{"api.example.com.": {"routes": {}}}`, wantErr: `"api.example.com."`},
		{name: "host_empty_label", hosts: `{"api..example.com": {"routes": {}}}`, wantErr: `"api..example.com"`},
		{name: "host_too_long", hosts: `{"` + strings.Repeat("a.", 126) + `ab": {"routes": {}}}`, wantErr: `hosts["a.a.`},
		{name: "host_non_ascii", hosts: `{"bücher.example": {"routes": {}}}`, wantErr: `hosts["bücher.example"]`},
		{name: "host_ipv6_not_canonical", hosts: `{"[2001:0db8::1]": {"routes": {}}}`, wantErr: `"[2001:0db8::1]"`},
		{name: "host_ipv6_long_form", hosts: `{"[0:0:0:0:0:0:0:1]": {"routes": {}}}`, wantErr: `"[0:0:0:0:0:0:0:1]"`},
		{name: "host_ipv6_mapped_ipv4", hosts: `{"[::ffff:a00:1]": {"routes": {}}}`, wantErr: `"[::ffff:a00:1]"`},
		{name: "host_ipv4_in_brackets", hosts: `{"[1.2.3.4]": {"routes": {}}}`, wantErr: `"[1.2.3.4]"`},
		{name: "host_ipv6_zone", hosts: `{"[fe80::1%eth0]": {"routes": {}}}`, wantErr: `"[fe80::1%eth0]"`},
		{name: "escape_in_key", routes: `{"/files/my%20docs/*": {"GET": ` + pub + `}}`, wantErr: `"/files/my%20docs/*"`},
		{name: "escape_at_end_of_key", routes: `{"/a/b%2F": {"GET": ` + pub + `}}`, wantErr: `"/a/b%2F"`},
		{name: "host_without_routes", hosts: `{"api.example.com": {}}`, wantErr: "has no routes"},
		{name: "host_unknown_key", hosts: `{"api.example.com": {"routes": {}, "route": {}}}`, wantErr: `unknown key "route"`},
		{name: "host_key_in_table", hosts: `{"api.example.com": {"routes": {"/a/*/b": {"GET": ` + pub + `}}}}`, wantErr: `hosts["api.example.com"].routes["/a/*/b"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r, h ast.Value
			if tt.routes != "" {
				r = ast.MustParseTerm(tt.routes).Value
			}
			if tt.hosts != "" {
				h = ast.MustParseTerm(tt.hosts).Value
			}
			_, err := buildIndex(r, h)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("buildIndex() = %v, want an error naming %s", err, tt.wantErr)
			}
		})
	}
	t.Run("every_problem_named", func(t *testing.T) {
		_, err := buildIndex(ast.MustParseTerm(`{"/a/*/b": {"GET": `+pub+`}, "/c/{x}/{x}": {"GET": `+pub+`}, "/ok": {"GET": `+pub+`}}`).Value, nil)
		if err == nil || !strings.Contains(err.Error(), `"/a/*/b"`) || !strings.Contains(err.Error(), `"/c/{x}/{x}"`) || strings.Contains(err.Error(), `"/ok"`) {
			t.Errorf("buildIndex() = %v, want both bad keys named and not the good one", err)
		}
	})
	t.Run("canonical", func(t *testing.T) {
		mustIndex(t, `{"/": {"GET": `+pub+`}, "/orders/{id}/": {"GET": `+pub+`}, "/*": {"*": `+pub+`}, "/a/{b_1}/{C}/*": {"PROPFIND": `+pub+`}}`,
			`{"api.example.com": {"routes": {}}, "[::1]": {"routes": {}}, "[2001:db8::1]": {"routes": {}}, "[::ffff:10.0.0.1]": {"routes": {}}, "10.0.0.1": {"routes": {}}}`)
		// A lone "%" is a character a request path can hold (with
		// PATH_ALLOW_PERCENT25, "/discounts/50%25" is "50%").
		mustIndex(t, `{"/discounts/50%": {"GET": `+pub+`}, "/a/%zz": {"GET": `+pub+`}, "/b/%": {"GET": `+pub+`}}`, "")
	})
}

// genTable makes a table of n canonical keys drawn from a small alphabet,
// so patterns overlap each other and the literals a lot.
func genTable(rng *rand.Rand, n int) map[string]any {
	lits := []string{"a", "b", "c", "users", "{p}"}
	methods := []string{"GET", "POST", "HEAD", "*", "DELETE"}
	table := map[string]any{}
	for len(table) < n {
		depth := rng.IntN(5)
		var segs []string
		for i := range depth {
			s := lits[rng.IntN(len(lits))]
			if s == "{p}" {
				s = fmt.Sprintf("{p%d}", i)
			}
			segs = append(segs, s)
		}
		switch rng.IntN(6) {
		case 0:
			segs = append(segs, "*")
		case 1:
			segs = append(segs, "")
		}
		key := "/" + strings.Join(segs, "/")
		rules := map[string]any{}
		for range 1 + rng.IntN(2) {
			rules[methods[rng.IntN(len(methods))]] = map[string]any{"access": "public"}
		}
		table[key] = rules
	}
	return table
}

func genPath(rng *rand.Rand) []string {
	vals := []string{"a", "b", "c", "users", "x", "*", "{p0}", ".."}
	path := []string{}
	for range rng.IntN(6) {
		path = append(path, vals[rng.IntN(len(vals))])
	}
	if rng.IntN(5) == 0 {
		path = append(path, "")
	}
	return path
}

// referenceMatcher prepares policies_test's reference matcher in Rego over
// table: the keys it matches for a method and a path, sorted.
func referenceMatcher(tb testing.TB, table map[string]any) func(method string, path []string) []string {
	tb.Helper()
	src, err := os.ReadFile("../../policies_test/reference_match.rego")
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	query, err := rego.New(
		rego.Query("data.reference.matches(data.table, input.method, input.path)"),
		rego.Module("reference_match.rego", string(src)),
		rego.Store(inmem.NewFromObject(map[string]any{"table": table})),
	).PrepareForEval(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	return func(method string, path []string) []string {
		rs, err := query.Eval(ctx, rego.EvalInput(map[string]any{"method": method, "path": path}))
		if err != nil || len(rs) != 1 {
			tb.Fatalf("reference(%s %q) = %v, %v", method, path, rs, err)
		}
		var want []string
		for _, k := range rs[0].Expressions[0].Value.([]any) {
			want = append(want, k.(string))
		}
		slices.Sort(want)
		return want
	}
}

// The Go index and the reference matcher in Rego (policies_test) agree on
// a large generated table with overlapping patterns.
func TestMatchAgreesWithReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	table := genTable(rng, 1000)
	reference := referenceMatcher(t, table)
	tv, err := ast.InterfaceToValue(table)
	if err != nil {
		t.Fatal(err)
	}
	x, err := buildIndex(tv, nil)
	if err != nil {
		t.Fatal(err)
	}
	matched := 0
	for i := range 400 {
		method := []string{"GET", "POST", "HEAD", "PUT"}[i%4]
		path := genPath(rng)
		got, want := keysOf(x.match("", method, path, false)), reference(method, path)
		if !slices.Equal(got, want) && len(got)+len(want) > 0 {
			t.Errorf("%s %q: Go matched %q, reference %q", method, path, got, want)
		}
		if len(got) > 1 {
			matched++
		}
	}
	if matched < 40 {
		t.Errorf("only %d of 400 paths matched several keys; the table does not overlap enough to prove much", matched)
	}
}

// FuzzMatchReference: for any route keys the index accepts and any path,
// the Go index and the reference matcher in Rego match the same keys.
func FuzzMatchReference(f *testing.F) {
	for _, s := range [][2]string{
		{"/a/{id}\n/a/*\n/a/b/", "a/b/"},
		{"/\n/*\n/{x}/*", "x/y"},
		{"/a%\n/{x}/{y}", "a%/"},
		{"/a/\n/a", "a/"},
		{"/*", ""},
	} {
		f.Add(s[0], s[1], uint8(0))
	}
	methods := []string{"GET", "HEAD", "POST", "*"}
	f.Fuzz(func(t *testing.T, keys, p string, mi uint8) {
		table := map[string]any{}
		for i, k := range strings.Split(keys, "\n") {
			table[k] = map[string]any{methods[(i+int(mi))%4]: map[string]any{"access": "public"}}
		}
		tv, err := ast.InterfaceToValue(table)
		if err != nil {
			return
		}
		x, err := buildIndex(tv, nil)
		if err != nil {
			return // refused at activation: never matched
		}
		method, path := methods[int(mi)%3], strings.Split(p, "/")
		got, want := keysOf(x.match("", method, path, false)), referenceMatcher(t, table)(method, path)
		if !slices.Equal(got, want) && len(got)+len(want) > 0 {
			t.Errorf("keys %q, %s %q: Go matched %q, reference %q", keys, method, path, got, want)
		}
	})
}

// docs/policy.md's parent-path warning: with /files/* public and
// /files/secret/* authenticated, the parent /files/secret (with or without
// a trailing slash) matches only /files/* and is public until it has keys
// of its own.
func TestWildcardParentPath(t *testing.T) {
	const tables = `{"routes": {
		"/files/*": {"GET": {"access": "public"}},
		"/files/secret/*": {"GET": {"access": "authenticated"}}%s
	}}`
	const parentKeys = `,
		"/files/secret": {"GET": {"access": "authenticated"}},
		"/files/secret/": {"GET": {"access": "authenticated"}}`
	tests := []struct {
		name       string
		parentKeys bool
		path       []string
		wantReason string
	}{
		{name: "child", path: []string{"files", "secret", "plan.txt"}, wantReason: ReasonUnauthenticated},
		{name: "parent_is_public", path: []string{"files", "secret"}, wantReason: ReasonPublic},
		{name: "parent_slash_is_public", path: []string{"files", "secret", ""}, wantReason: ReasonPublic},
		{name: "parent_with_own_key", parentKeys: true, path: []string{"files", "secret"}, wantReason: ReasonUnauthenticated},
		{name: "parent_slash_with_own_key", parentKeys: true, path: []string{"files", "secret", ""}, wantReason: ReasonUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			extra := ""
			if tt.parentKeys {
				extra = parentKeys
			}
			e := engineFor(t, map[string]string{"authz/authz.rego": shippedRego(t), "authz/data.json": fmt.Sprintf(tables, extra)}, Config{})
			if d := decide(t, e, Input{Method: "GET", Path: tt.path}); d.Reason != tt.wantReason {
				t.Errorf("GET %q: reason %q, routes %q; want %q", tt.path, d.Reason, d.Routes, tt.wantReason)
			}
		})
	}
}

// TestHostKeysTheGateProduces: every name the gate's NormalizeHost gives a
// request's Host can be a host table's key (the gate imports this
// package, so the names are listed here as NormalizeHost writes them).
func TestHostKeysTheGateProduces(t *testing.T) {
	for _, h := range []string{
		"api.example.com", "my_svc", "my_svc.internal", "-a.example", "a-.example", "a.-b", "localhost", "127.0.0.1",
		"[2001:db8::1]", "[::1]", strings.Repeat("a.", 126) + "a",
	} {
		t.Run(h, func(t *testing.T) {
			hosts, err := ast.InterfaceToValue(map[string]any{h: map[string]any{"routes": map[string]any{}}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := buildIndex(nil, hosts); err != nil {
				t.Errorf("host key %q refused: %v", h, err)
			}
		})
	}
}
