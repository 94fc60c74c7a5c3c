package devissuer_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/authn/authntest"
	"github.com/policygate/policygate/internal/devissuer"
)

// devServer serves an issuer's routes on loopback, the way dev mode does.
func devServer(t *testing.T) (*devissuer.Issuer, *httptest.Server) {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	iss, err := devissuer.New(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	for pattern, h := range iss.Routes() {
		mux.Handle(pattern, h)
	}
	return iss, srv
}

// verifierFor verifies tokens against the keys served at jwksURL (or, when
// it is empty, found by discovery from issuer).
func verifierFor(t *testing.T, issuer, jwksURL string) *authn.Verifier {
	t.Helper()
	keys := authn.NewKeySet(authn.KeySetConfig{Issuer: issuer, JWKSURL: jwksURL})
	authntest.StartKeys(t, keys)
	v, err := authn.NewVerifier(keys, authn.VerifierConfig{Issuer: issuer, Audience: devissuer.Audience, Algorithms: []string{"RS256"}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestMintedTokensVerify: a dev token passes policygate's own verifier,
// with keys found by OpenID discovery, and carries what was asked for.
func TestMintedTokensVerify(t *testing.T) {
	iss, _ := devServer(t)
	v := verifierFor(t, iss.URL(), "")
	tests := []struct {
		name       string
		opts       devissuer.MintOptions
		wantSub    string
		wantScopes []string
		wantTTL    time.Duration
	}{
		{"defaults", devissuer.MintOptions{}, "dev-user", nil, time.Hour},
		{"scoped", devissuer.MintOptions{Scopes: []string{"read:messages", "write:messages"}}, "dev-user", []string{"read:messages", "write:messages"}, time.Hour},
		{"subject_and_ttl", devissuer.MintOptions{Subject: "alice", TTL: 2 * time.Hour}, "alice", nil, 2 * time.Hour},
		{"max_ttl", devissuer.MintOptions{TTL: devissuer.MaxTTL}, "dev-user", nil, devissuer.MaxTTL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := iss.Mint(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			c, err := v.Verify(context.Background(), authn.Token(tok))
			if err != nil {
				t.Fatalf("Verify(dev token) = %v", err)
			}
			if c.Subject != tt.wantSub || strings.Join(c.Scopes, " ") != strings.Join(tt.wantScopes, " ") {
				t.Errorf("claims sub %q scopes %q, want %q %q", c.Subject, c.Scopes, tt.wantSub, tt.wantScopes)
			}
			iat, _ := c.Payload()["iat"].(json.Number).Int64()
			if got := c.ExpiresAt.Sub(time.Unix(iat, 0)); got != tt.wantTTL {
				t.Errorf("exp - iat = %v, want %v", got, tt.wantTTL)
			}
		})
	}
	if _, err := iss.Mint(devissuer.MintOptions{TTL: devissuer.MaxTTL + time.Second}); err == nil {
		t.Error("Mint(TTL > MaxTTL) succeeded")
	}
}

// TestKeyIsPerProcess: each issuer makes its own key, so a dev token is
// refused by any other instance, even one claiming the same issuer URL.
func TestKeyIsPerProcess(t *testing.T) {
	a, _ := devServer(t)
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	b, err := devissuer.New(a.URL()) // same issuer name, another process
	if err != nil {
		t.Fatal(err)
	}
	for pattern, h := range b.Routes() {
		mux.Handle(pattern, h)
	}
	v := verifierFor(t, a.URL(), srv.URL+"/.well-known/jwks.json")
	tok, err := a.Mint(devissuer.MintOptions{Scopes: []string{"read:messages"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), authn.Token(tok)); !errors.Is(err, authn.ErrInvalidToken) {
		t.Errorf("another instance's Verify(dev token) = %v, want ErrInvalidToken", err)
	}
}

// TestJWKSHasNoPrivateKey: the served key set holds the public key only.
func TestJWKSHasNoPrivateKey(t *testing.T) {
	iss, srv := devServer(t)
	resp, err := http.Get(iss.JWKSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 {
		t.Fatalf("JWKS has %d keys, want 1", len(set.Keys))
	}
	k := set.Keys[0]
	for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
		if _, ok := k[private]; ok {
			t.Errorf("JWKS key has private member %q", private)
		}
	}
	if k["kty"] != "RSA" || k["alg"] != "RS256" || k["use"] != "sig" || k["kid"] == "" {
		t.Errorf("JWKS key = %v, want an RS256 signing key with a kid", k)
	}
	if !strings.HasPrefix(iss.JWKSURL(), srv.URL) {
		t.Errorf("JWKSURL %q is not served by %s", iss.JWKSURL(), srv.URL)
	}
	tok, _ := iss.Mint(devissuer.MintOptions{})
	header, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	var h map[string]any
	json.Unmarshal(header, &h)
	if h["alg"] != "RS256" || h["kid"] != k["kid"] {
		t.Errorf("token header %v does not name the served key %v", h, k["kid"])
	}
}

// TestTokenEndpoint: GET /dev/token mints what its query asks for and
// refuses bad lifetimes with a 400 JSON error.
func TestTokenEndpoint(t *testing.T) {
	iss, srv := devServer(t)
	v := verifierFor(t, iss.URL(), iss.JWKSURL())
	tests := []struct {
		name       string
		query      string
		wantStatus int
		wantScopes string
		wantSub    string
		wantTTL    int
	}{
		{"defaults", "", 200, "", "dev-user", 3600},
		{"scope_spaces", "?scope=read:messages+write:messages", 200, "read:messages write:messages", "dev-user", 3600},
		{"scope_repeated", "?scope=read:messages&scope=write:messages", 200, "read:messages write:messages", "dev-user", 3600},
		{"sub_and_duration", "?sub=bob&ttl=2h", 200, "", "bob", 7200},
		{"ttl_seconds", "?ttl=60", 200, "", "dev-user", 60},
		{"ttl_too_long", "?ttl=25h", 400, "", "", 0},
		{"ttl_negative", "?ttl=-1h", 400, "", "", 0},
		{"ttl_zero", "?ttl=0", 400, "", "", 0},
		{"ttl_garbage", "?ttl=forever", 400, "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Get(srv.URL + "/dev/token" + tt.query)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d %v, want %d", resp.StatusCode, body, tt.wantStatus)
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", resp.Header.Get("Cache-Control"))
			}
			if tt.wantStatus != 200 {
				if body["error"] != "invalid_request" || body["error_description"] == "" {
					t.Errorf("body = %v, want invalid_request with a description", body)
				}
				return
			}
			tok, _ := body["access_token"].(string)
			c, err := v.Verify(context.Background(), authn.Token(tok))
			if err != nil {
				t.Fatalf("Verify(minted) = %v", err)
			}
			if got := strings.Join(c.Scopes, " "); got != tt.wantScopes || c.Subject != tt.wantSub {
				t.Errorf("scopes %q sub %q, want %q %q", got, c.Subject, tt.wantScopes, tt.wantSub)
			}
			if body["token_type"] != "Bearer" || body["expires_in"] != float64(tt.wantTTL) {
				t.Errorf("body = %v, want token_type Bearer, expires_in %d", body, tt.wantTTL)
			}
		})
	}
}

// TestTokenEndpointLoopbackHostOnly: a page that reaches the dev server
// under its own name (DNS rebinding) gets no token.
func TestTokenEndpointLoopbackHostOnly(t *testing.T) {
	_, srv := devServer(t)
	_, port, err := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host       string
		wantStatus int
	}{
		{"127.0.0.1:" + port, 200},
		{"localhost:" + port, 200},
		{"LocalHost", 200},
		{"[::1]:" + port, 200},
		{"rebind.attacker.example:" + port, 403},
		{"127.0.0.1.nip.example", 403},
		{"10.0.0.1:" + port, 403},
	}
	for _, tc := range tests {
		req, err := http.NewRequest("GET", srv.URL+"/dev/token?scope=admin:all", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = tc.host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.wantStatus {
			t.Errorf("GET /dev/token with Host %q = %d, want %d", tc.host, resp.StatusCode, tc.wantStatus)
		}
	}
}
