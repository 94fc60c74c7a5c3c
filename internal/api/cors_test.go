package api_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/policygate/policygate/internal/api"
)

func TestCORS(t *testing.T) {
	s := newStack(t)
	tok := s.provider.Token(t, map[string]any{"scope": "read:messages"})
	const app = "http://localhost:3000"
	tests := []struct {
		name        string
		origins     []string
		method      string
		path        string
		header      http.Header
		wantStatus  int
		wantOrigin  string // Access-Control-Allow-Origin
		wantMethods string // Access-Control-Allow-Methods
	}{
		{"off_by_default", nil, "GET", "/api/public", http.Header{"Origin": {app}}, 200, "", ""},
		{"allowed_origin_get", []string{app}, "GET", "/api/private-scoped", http.Header{"Origin": {app}, "Authorization": {"Bearer " + tok}}, 200, app, ""},
		{"allowed_origin_denied_request_still_readable", []string{app}, "GET", "/api/private", http.Header{"Origin": {app}}, 401, app, ""},
		{"other_origin", []string{app}, "GET", "/api/public", http.Header{"Origin": {"https://evil.example.com"}}, 200, "", ""},
		{"preflight", []string{app}, "OPTIONS", "/api/private-scoped", http.Header{"Origin": {app}, "Access-Control-Request-Method": {"GET"}, "Access-Control-Request-Headers": {"authorization"}}, 204, app, "GET"},
		{"preflight_needs_no_token", []string{app}, "OPTIONS", "/api/private", http.Header{"Origin": {app}, "Access-Control-Request-Method": {"GET"}}, 204, app, "GET"},
		{"preflight_other_origin", []string{app}, "OPTIONS", "/api/private", http.Header{"Origin": {"https://evil.example.com"}, "Access-Control-Request-Method": {"GET"}}, 405, "", ""},
		{"preflight_unknown_route", []string{app}, "OPTIONS", "/api/nope", http.Header{"Origin": {app}, "Access-Control-Request-Method": {"GET"}}, 404, app, ""},
		{"preflight_wrong_method", []string{app}, "OPTIONS", "/api/private", http.Header{"Origin": {app}, "Access-Control-Request-Method": {"DELETE"}}, 405, app, ""},
		{"wildcard", []string{"*"}, "GET", "/api/public", http.Header{"Origin": {"https://any.example.com"}}, 200, "*", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := api.NewServer(api.Options{Gate: s.gate, CORSOrigins: tt.origins})
			req := httptest.NewRequest(tt.method, tt.path, nil)
			for k, vs := range tt.header {
				for _, v := range vs {
					req.Header.Add(k, v)
				}
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			got := rec.Header()
			if rec.Code != tt.wantStatus {
				t.Errorf("%s %s = %d, want %d", tt.method, tt.path, rec.Code, tt.wantStatus)
			}
			if o := got.Get("Access-Control-Allow-Origin"); o != tt.wantOrigin {
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", o, tt.wantOrigin)
			}
			if m := got.Get("Access-Control-Allow-Methods"); m != tt.wantMethods {
				t.Errorf("Access-Control-Allow-Methods = %q, want %q", m, tt.wantMethods)
			}
			if tt.wantOrigin == app && tt.method == "GET" && got.Get("Access-Control-Expose-Headers") == "" {
				t.Error("WWW-Authenticate and X-Decision-Id are not exposed to the browser")
			}
		})
	}
}

// TestValidateCORSOrigin: only origins exactly as a browser sends them in
// Origin are accepted (they are compared byte for byte); the others are
// refused with the form to use when there is one.
func TestValidateCORSOrigin(t *testing.T) {
	tests := []struct {
		name    string
		origin  string
		wantErr string // "" accepted; else part of the error
	}{
		{name: "star", origin: "*"},
		{name: "localhost_port", origin: "http://localhost:3000"},
		{name: "https_host", origin: "https://app.example.com"},
		{name: "https_other_port", origin: "https://app.example.com:8443"},
		{name: "http_port_443", origin: "http://app.example.com:443"},
		{name: "ipv4", origin: "http://127.0.0.1:3000"},
		{name: "ipv6", origin: "http://[::1]:3000"},
		{name: "underscore_label", origin: "https://my_app.example.com"},
		{name: "upper_case_host", origin: "https://App.Example.com", wantErr: `use "https://app.example.com"`},
		{name: "upper_case_scheme", origin: "HTTPS://app.example.com", wantErr: `use "https://app.example.com"`},
		{name: "default_port_https", origin: "https://app.example.com:443", wantErr: `use "https://app.example.com"`},
		{name: "default_port_http", origin: "http://app.example.com:80", wantErr: `use "http://app.example.com"`},
		{name: "leading_zero_port", origin: "http://localhost:03000", wantErr: `use "http://localhost:3000"`},
		{name: "trailing_dot", origin: "https://app.example.com.", wantErr: `use "https://app.example.com"`},
		{name: "ipv6_long_form", origin: "http://[0:0:0:0:0:0:0:1]:3000", wantErr: `use "http://[::1]:3000"`},
		{name: "ipv4_short_form", origin: "http://127.1:3000", wantErr: "IPv4"},
		{name: "port_too_large", origin: "https://app.example.com:99999", wantErr: "1 to 65535"},
		{name: "port_zero", origin: "https://app.example.com:0", wantErr: "1 to 65535"},
		{name: "port_not_a_number", origin: "https://a:b", wantErr: "1 to 65535"},
		{name: "empty_port", origin: "https://app.example.com:", wantErr: "1 to 65535"},
		{name: "trailing_slash", origin: "https://app.example.com/", wantErr: "no path"},
		{name: "path", origin: "https://a.example.com/path", wantErr: "no path"},
		{name: "query", origin: "https://a.example.com?x", wantErr: "no path"},
		{name: "userinfo", origin: "https://user@a.example.com", wantErr: "no user info"},
		{name: "no_scheme", origin: "app.example.com", wantErr: "http or https"},
		{name: "ftp", origin: "ftp://x", wantErr: "http or https"},
		{name: "wildcard_host", origin: "https://*.example.com", wantErr: "ASCII"},
		{name: "non_ascii_host", origin: "https://bücher.example", wantErr: "punycode"},
		{name: "empty_label", origin: "https://app..example.com", wantErr: "empty label"},
		{name: "no_host", origin: "https://", wantErr: "missing"},
		{name: "null", origin: "null", wantErr: "http or https"},
		{name: "empty", origin: "", wantErr: "http or https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := api.ValidateCORSOrigin(tt.origin)
			if got != (tt.wantErr == "") {
				t.Errorf("ValidateCORSOrigin(%q) = %v, want %v", tt.origin, got, tt.wantErr == "")
			}
			if tt.origin == "" {
				return // an empty list is CORS off
			}
			_, err := api.ParseCORSOrigins(tt.origin)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("ParseCORSOrigins(%q) error = %v, want one containing %q", tt.origin, err, tt.wantErr)
			}
		})
	}
}

func TestParseCORSOrigins(t *testing.T) {
	tests := []struct {
		name    string
		list    string
		want    []string
		wantErr []string // one line each
	}{
		{name: "two", list: "https://app.example.com, http://localhost:3000", want: []string{"https://app.example.com", "http://localhost:3000"}},
		{name: "star_alone", list: "*", want: []string{"*"}},
		{name: "trailing_slash", list: "https://app.example.com/", want: []string{"https://app.example.com/"}, wantErr: []string{"is not an origin"}},
		{name: "star_with_others", list: "*,https://a.example.com", want: []string{"*", "https://a.example.com"}, wantErr: []string{`"*" allows every origin`}},
		{name: "two_problems", list: "x y", want: []string{"x", "y"}, wantErr: []string{`"x" is not an origin`, `"y" is not an origin`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := api.ParseCORSOrigins(tt.list)
			var lines []string
			if err != nil {
				lines = strings.Split(err.Error(), "\n")
			}
			if !slices.Equal(got, tt.want) || len(lines) != len(tt.wantErr) {
				t.Fatalf("ParseCORSOrigins(%q) = %q, %v; want %q and %d errors", tt.list, got, err, tt.want, len(tt.wantErr))
			}
			for i, want := range tt.wantErr {
				if !strings.Contains(lines[i], want) {
					t.Errorf("ParseCORSOrigins(%q) error %d = %q, want %q", tt.list, i, lines[i], want)
				}
			}
		})
	}
}
