package api_test

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/authn/authntest"
)

// checkDenial checks the parts of a 401 every client relies on: the JSON
// error body, the Bearer challenge with the same error code (none when no
// credentials were sent, RFC 6750 section 3.1) on a single header line,
// and no caching.
func checkDenial(t *testing.T, res response, wantStatus int, wantError string) {
	t.Helper()
	if res.status != wantStatus {
		t.Fatalf("status = %d %v, want %d", res.status, res.body, wantStatus)
	}
	if res.body["error"] != wantError {
		t.Errorf("error = %v, want %q", res.body["error"], wantError)
	}
	if d, _ := res.body["error_description"].(string); d == "" {
		t.Errorf("error_description is empty in %v", res.body)
	}
	if cc := res.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	if wantStatus != http.StatusUnauthorized {
		return
	}
	chal := res.header.Values("WWW-Authenticate")
	if len(chal) != 1 || !strings.HasPrefix(chal[0], `Bearer realm="test"`) || strings.ContainsAny(chal[0], "\r\n") {
		t.Fatalf("WWW-Authenticate = %q, want one Bearer challenge line", chal)
	}
	// Count only error parameters, not the text of a description.
	codes := strings.Count(chal[0], `error="`)
	switch {
	case wantError == "unauthorized" && codes != 0:
		t.Errorf("WWW-Authenticate = %q: no error code without credentials", chal[0])
	case wantError != "unauthorized" && (codes != 1 || !strings.Contains(chal[0], `error="`+wantError+`"`)):
		t.Errorf("WWW-Authenticate = %q, want exactly one error=%q", chal[0], wantError)
	}
}

// TestAuthorizationHeaderForms sends every shape of Authorization header
// through the real router. The scheme is case-insensitive and one or more
// spaces may follow it (RFC 7235); anything else that is not exactly one
// bearer token is invalid_request; no or a blank header is a plain 401.
func TestAuthorizationHeaderForms(t *testing.T) {
	for _, mode := range decisionCacheModes {
		t.Run(mode.name, func(t *testing.T) { testAuthorizationHeaderForms(t, newStackDecisions(t, mode.size)) })
	}
}

func testAuthorizationHeaderForms(t *testing.T, s *stack) {
	tok := s.provider.Token(t, nil)
	h := func(values ...string) http.Header { return http.Header{"Authorization": values} }
	tests := []struct {
		name       string
		header     http.Header
		wantStatus int
		wantError  string
	}{
		{"no_header", nil, 401, "unauthorized"},
		{"empty", h(""), 401, "unauthorized"},
		{"blank", h("   "), 401, "unauthorized"},
		{"tab_only", h("\t"), 401, "unauthorized"},
		{"bearer_alone", h("Bearer"), 401, "invalid_request"},
		{"bearer_space", h("Bearer "), 401, "invalid_request"},
		{"bearer_spaces", h("Bearer    "), 401, "invalid_request"},
		{"two_tokens", h("Bearer " + tok + " " + tok), 401, "invalid_request"},
		{"two_headers", h("Bearer "+tok, "Bearer "+tok), 401, "invalid_request"},
		{"two_headers_one_empty", h("Bearer "+tok, ""), 401, "invalid_request"},
		{"two_headers_one_basic", h("Basic dXNlcjpwYXNz", "Bearer "+tok), 401, "invalid_request"},
		{"two_schemes_in_one_header", h("Bearer " + tok + ", Basic dXNlcjpwYXNz"), 401, "invalid_request"},
		{"basic", h("Basic dXNlcjpwYXNz"), 401, "invalid_request"},
		{"basic_with_token", h("Basic " + tok), 401, "invalid_request"},
		{"digest", h(`Digest username="a", response="b"`), 401, "invalid_request"},
		{"token_scheme", h("Token " + tok), 401, "invalid_request"},
		{"jwt_scheme", h("JWT " + tok), 401, "invalid_request"},
		{"bare_token", h(tok), 401, "invalid_request"},
		{"missing_space", h("Bearer" + tok), 401, "invalid_request"},
		{"tab_separator", h("Bearer\t" + tok), 401, "invalid_request"},
		{"colon_separator", h("Bearer:" + tok), 401, "invalid_request"},
		{"quoted_token", h(`Bearer "` + tok + `"`), 401, "invalid_request"},
		{"token_with_comma", h("Bearer " + tok + ",x"), 401, "invalid_request"},
		{"token_with_non_ascii", h("Bearer " + tok + "é"), 401, "invalid_request"},
		{"token_with_nul", h("Bearer " + tok + "\x00"), 401, "invalid_request"},
		{"garbage_token", h("Bearer abc"), 401, "invalid_token"},
		{"lower_case_scheme", h("bearer " + tok), 200, ""},
		{"upper_case_scheme", h("BEARER " + tok), 200, ""},
		{"mixed_case_scheme", h("bEaReR " + tok), 200, ""},
		{"several_spaces", h("Bearer   " + tok), 200, ""},
		{"surrounding_spaces", h("  Bearer " + tok + "  "), 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := s.do(t, "GET", "/api/private", tt.header)
			if tt.wantStatus == 200 {
				if res.status != 200 {
					t.Fatalf("status = %d %v, want 200", res.status, res.body)
				}
				return
			}
			checkDenial(t, res, tt.wantStatus, tt.wantError)
			// The public route ignores whatever was sent.
			if res := s.do(t, "GET", "/api/public", tt.header); res.status != 200 {
				t.Errorf("GET /api/public = %d %v, want 200", res.status, res.body)
			}
		})
	}
}

// TestTokenNotReadFromElsewhere: tokens in the query string, a cookie or
// another header are never read.
func TestTokenNotReadFromElsewhere(t *testing.T) {
	for _, mode := range decisionCacheModes {
		t.Run(mode.name, func(t *testing.T) { testTokenNotReadFromElsewhere(t, newStackDecisions(t, mode.size)) })
	}
}

func testTokenNotReadFromElsewhere(t *testing.T, s *stack) {
	tok := s.provider.Token(t, map[string]any{"scope": "read:messages"})
	tests := []struct {
		name   string
		path   string
		header http.Header
	}{
		{"query_access_token", "/api/private?access_token=" + tok, nil},
		{"query_token", "/api/private?token=" + tok, nil},
		{"cookie", "/api/private", http.Header{"Cookie": {"access_token=" + tok}}},
		{"x_access_token", "/api/private", http.Header{"X-Access-Token": {tok}}},
		{"proxy_authorization", "/api/private", http.Header{"Proxy-Authorization": {"Bearer " + tok}}},
		{"x_forwarded_authorization", "/api/private", http.Header{"X-Forwarded-Authorization": {"Bearer " + tok}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkDenial(t, s.do(t, "GET", tt.path, tt.header), 401, "unauthorized")
		})
	}
}

// TestTokenAttacksOverHTTP maps a sample of the authn attack catalogue (see
// internal/authn/attacks_test.go for all of it) to the HTTP answer: 401
// invalid_token on protected routes, 200 on the public one, never a 5xx.
func TestTokenAttacksOverHTTP(t *testing.T) {
	for _, mode := range decisionCacheModes {
		t.Run(mode.name, func(t *testing.T) { testTokenAttacksOverHTTP(t, newStackDecisions(t, mode.size)) })
	}
}

func testTokenAttacksOverHTTP(t *testing.T, s *stack) {
	p := s.provider
	key := p.Key()
	claims := p.Claims()
	seg := func(v any) string { return authntest.Segment(t, v) }
	valid := p.Token(t, map[string]any{"scope": "read:messages"})
	signedPart := valid[:strings.LastIndexByte(valid, '.')]
	pkix, err := x509.MarshalPKIXPublicKey(&key.Private.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	hsInput := seg(map[string]any{"alg": "HS256", "kid": "key-1"}) + "." + seg(map[string]any{"iss": p.Issuer, "aud": authntest.Audience, "exp": time.Now().Add(time.Hour).Unix(), "scope": "read:messages"})
	mac := hmac.New(sha256.New, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix}))
	mac.Write([]byte(hsInput))
	rs := func(header map[string]any, c map[string]any) string {
		return authntest.SignWithHeader(t, key, header, c)
	}
	with := func(name string, v any) map[string]any {
		c := p.Claims()
		c["scope"] = "read:messages"
		if v == nil {
			delete(c, name)
		} else {
			c[name] = v
		}
		return c
	}

	tests := []struct {
		name  string
		token string
	}{
		{"alg_none", seg(map[string]any{"alg": "none"}) + "." + seg(with("scope", "read:messages")) + "."},
		{"alg_none_with_signature", seg(map[string]any{"alg": "nOnE"}) + "." + seg(with("scope", "read:messages")) + ".c2ln"},
		{"hs256_with_rsa_public_key_pem", hsInput + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))},
		{"signature_stripped", signedPart + "."},
		{"signature_zeroed", signedPart + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 256))},
		{"signature_foreign", authntest.Sign(t, authntest.NewKey(t, "key-1"), with("scope", "read:messages"))},
		{"kid_path_traversal", rs(map[string]any{"alg": "RS256", "kid": "../../../../etc/passwd"}, claims)},
		{"jku_attacker", authntest.SignWithHeader(t, authntest.NewKey(t, "x"), map[string]any{"alg": "RS256", "kid": "x", "jku": "http://127.0.0.1:1/jwks.json"}, claims)},
		{"crit_unknown", rs(map[string]any{"alg": "RS256", "kid": "key-1", "crit": []string{"x"}, "x": 1}, claims)},
		{"expired", rs(map[string]any{"alg": "RS256", "kid": "key-1"}, with("exp", time.Now().Add(-time.Hour).Unix()))},
		{"exp_as_string", rs(map[string]any{"alg": "RS256", "kid": "key-1"}, with("exp", "9999999999"))},
		{"wrong_audience", rs(map[string]any{"alg": "RS256", "kid": "key-1"}, with("aud", authntest.Audience+"/"))},
		{"lookalike_issuer", rs(map[string]any{"alg": "RS256", "kid": "key-1"}, with("iss", strings.TrimSuffix(p.Issuer, "/")))},
		{"four_segments", valid + ".x"},
		{"one_segment", seg(map[string]any{"alg": "RS256"})},
		{"too_large", rs(map[string]any{"alg": "RS256", "kid": "key-1"}, with("pad", strings.Repeat("a", authn.MaxTokenBytes)))},
		{"deeply_nested_header", seg([]byte(`{"alg":"RS256","x":`+strings.Repeat("[", 700)+strings.Repeat("]", 700)+"}")) + "." + strings.SplitN(valid, ".", 3)[1] + ".c2ln"},
		// The description names the refused alg; a crafted one must not
		// break out of the quoted challenge parameter.
		{"alg_quote_injection", seg(map[string]any{"alg": "x\", error=\"none\r\nX-Evil: 1"}) + "." + seg(claims) + ".c2ln"},
		{"kid_quote_injection", rs(map[string]any{"alg": "ES256", "kid": "key-1\" error_uri=\"http://evil"}, claims)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/api/private", "/api/private-scoped"} {
				checkDenial(t, s.do(t, "GET", path, bearer(tt.token)), 401, "invalid_token")
			}
			if res := s.do(t, "GET", "/api/public", bearer(tt.token)); res.status != 200 {
				t.Errorf("GET /api/public = %d %v, want 200", res.status, res.body)
			}
		})
	}
}

// rawRequest writes req verbatim to a real server and parses the answer,
// for header forms a Go client would never send.
func rawRequest(t *testing.T, addr, req string) (*http.Response, map[string]any) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	return resp, body
}

// TestAuthorizationHeaderOnTheWire sends header forms as bytes to a real
// HTTP server, where Go's parser (not the test) decides what the router
// sees: header names are case-insensitive, so two spellings are two
// headers; surrounding whitespace is trimmed.
func TestAuthorizationHeaderOnTheWire(t *testing.T) {
	s := newStack(t)
	srv := httptest.NewServer(s.handler)
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")
	tok := s.provider.Token(t, nil)
	tests := []struct {
		name       string
		headers    string
		wantStatus int
		wantError  string
	}{
		{"valid", "Authorization: Bearer " + tok + "\r\n", 200, ""},
		{"lower_case_name", "authorization: bearer " + tok + "\r\n", 200, ""},
		{"upper_case_name", "AUTHORIZATION: BEARER " + tok + "\r\n", 200, ""},
		{"no_space_after_colon", "Authorization:Bearer " + tok + "\r\n", 200, ""},
		{"two_names_two_headers", "Authorization: Bearer " + tok + "\r\nauthorization: Bearer " + tok + "\r\n", 401, "invalid_request"},
		{"empty_value", "Authorization:\r\n", 401, "unauthorized"},
		{"bearer_trailing_space", "Authorization: Bearer \r\n", 401, "invalid_request"},
		{"bearer_alone", "Authorization: Bearer\r\n", 401, "invalid_request"},
		{"basic", "Authorization: Basic dXNlcjpwYXNz\r\n", 401, "invalid_request"},
		{"two_tokens", "Authorization: Bearer " + tok + " " + tok + "\r\n", 401, "invalid_request"},
		{"space_before_colon", "Authorization : Bearer " + tok + "\r\n", 400, ""},
		// RFC 9112 5.2: a server may replace obs-fold with a space, as Go
		// does; the value is then one well-formed bearer credential.
		{"obs_fold_continuation", "Authorization: Bearer\r\n " + tok + "\r\n", 200, ""},
		{"control_character", "Authorization: Bearer " + tok + "\x01\r\n", 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := rawRequest(t, addr, "GET /api/private HTTP/1.1\r\nHost: test\r\n"+tt.headers+"Connection: close\r\n\r\n")
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d %v, want %d", resp.StatusCode, body, tt.wantStatus)
			}
			if tt.wantError != "" {
				checkDenial(t, response{status: resp.StatusCode, header: resp.Header, body: body}, tt.wantStatus, tt.wantError)
			}
		})
	}
}
