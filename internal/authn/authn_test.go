package authn_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/authn/authntest"
)

// newVerifier returns a verifier whose keys were fetched from p, with the
// default token cache.
func newVerifier(t *testing.T, p *authntest.Provider, cfg authn.KeySetConfig) (*authn.Verifier, *authn.KeySet) {
	t.Helper()
	return newVerifierCache(t, p, cfg, authn.DefaultCacheSize)
}

// cacheModes run a test with the token cache off and on: caches must not
// change a single answer.
var cacheModes = []struct {
	name string
	size int
}{{"cache_off", 0}, {"cache_on", authn.DefaultCacheSize}}

// newVerifierCache is newVerifier with VerifierConfig.CacheSize set.
func newVerifierCache(t *testing.T, p *authntest.Provider, cfg authn.KeySetConfig, cacheSize int) (*authn.Verifier, *authn.KeySet) {
	t.Helper()
	if cfg.JWKSURL == "" && cfg.Issuer == "" {
		cfg.JWKSURL = p.JWKSURL()
	}
	keys := authn.NewKeySet(cfg)
	authntest.StartKeys(t, keys)
	v, err := authn.NewVerifier(keys, authn.VerifierConfig{
		Issuer: p.Issuer, Audience: authntest.Audience, Algorithms: []string{"RS256"}, ClockSkew: 30 * time.Second,
		CacheSize: cacheSize,
	})
	if err != nil {
		t.Fatal(err)
	}
	return v, keys
}

func TestParseAuthorization(t *testing.T) {
	tests := []struct {
		name    string
		values  []string
		want    authn.Token
		wantErr error
	}{
		{"no_header", nil, "", authn.ErrNoCredentials},
		{"blank_header", []string{"  "}, "", authn.ErrNoCredentials},
		{"bearer", []string{"Bearer abc.def.ghi"}, "abc.def.ghi", nil},
		{"lower_case_scheme", []string{"bearer abc.def.ghi"}, "abc.def.ghi", nil},
		{"upper_case_scheme", []string{"BEARER abc.def.ghi"}, "abc.def.ghi", nil},
		{"token68_padding", []string{"Bearer abc=="}, "abc==", nil},
		{"bearer_only", []string{"Bearer"}, "", authn.ErrMalformedRequest},
		{"bearer_space_only", []string{"Bearer "}, "", authn.ErrMalformedRequest},
		{"two_tokens", []string{"Bearer a b"}, "", authn.ErrMalformedRequest},
		{"two_headers", []string{"Bearer a", "Bearer b"}, "", authn.ErrMalformedRequest},
		{"basic", []string{"Basic dXNlcjpwYXNz"}, "", authn.ErrMalformedRequest},
		{"missing_space", []string{"Bearerabc.def.ghi"}, "", authn.ErrMalformedRequest},
		{"bad_characters", []string{"Bearer a,b"}, "", authn.ErrMalformedRequest},
		{"padding_in_middle", []string{"Bearer a=b"}, "", authn.ErrMalformedRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := authn.ParseAuthorization(tt.values)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Errorf("ParseAuthorization(%q) = %q, %v; want %q, %v", tt.values, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestTokenNeverPrints(t *testing.T) {
	tok := authn.Token("secret.token.value")
	if s := tok.LogValue().String(); s != "REDACTED" {
		t.Errorf("LogValue() = %q", s)
	}
	type holder struct{ Token authn.Token }
	for _, verb := range []string{"%v", "%s", "%q", "%#v", "%+v", "%x", "%X", "%d", "%10s"} {
		for _, arg := range []any{tok, &tok, holder{tok}, []authn.Token{tok}} {
			if s := fmt.Sprintf(verb, arg); strings.Contains(s, "secret") || strings.Contains(s, fmt.Sprintf("%x", "secret")) {
				t.Errorf("Sprintf(%q, %T) = %q, shows the token", verb, arg, s)
			}
		}
	}
}

func TestVerify(t *testing.T) {
	for _, mode := range cacheModes {
		t.Run(mode.name, func(t *testing.T) { testVerify(t, mode.size) })
	}
}

func testVerify(t *testing.T, cacheSize int) {
	p := authntest.NewProvider(t)
	v, _ := newVerifierCache(t, p, authn.KeySetConfig{}, cacheSize)
	other := authntest.NewKey(t, "key-1") // same kid, different key
	now := time.Now()

	tests := []struct {
		name    string
		token   func() string
		wantErr error
	}{
		{"valid", func() string { return p.Token(t, nil) }, nil},
		{"valid_audience_array", func() string {
			return p.Token(t, map[string]any{"aud": []string{"other", authntest.Audience}})
		}, nil},
		{"expired_token", func() string { return p.Token(t, map[string]any{"exp": now.Add(-time.Minute).Unix()}) }, authn.ErrInvalidToken},
		{"expired_within_skew", func() string { return p.Token(t, map[string]any{"exp": now.Add(-10 * time.Second).Unix()}) }, nil},
		{"no_exp", func() string { return p.Token(t, map[string]any{"exp": nil}) }, authn.ErrInvalidToken},
		{"exp_as_string", func() string { return p.Token(t, map[string]any{"exp": "9999999999"}) }, authn.ErrInvalidToken},
		{"not_yet_valid", func() string { return p.Token(t, map[string]any{"nbf": now.Add(time.Hour).Unix()}) }, authn.ErrInvalidToken},
		{"issued_in_future", func() string { return p.Token(t, map[string]any{"iat": now.Add(time.Hour).Unix()}) }, authn.ErrInvalidToken},
		{"wrong_issuer", func() string { return p.Token(t, map[string]any{"iss": "https://evil.example.com/"}) }, authn.ErrInvalidToken},
		{"issuer_without_slash", func() string {
			return p.Token(t, map[string]any{"iss": p.Issuer[:len(p.Issuer)-1]})
		}, authn.ErrInvalidToken},
		{"missing_issuer", func() string { return p.Token(t, map[string]any{"iss": nil}) }, authn.ErrInvalidToken},
		{"wrong_audience", func() string { return p.Token(t, map[string]any{"aud": "https://other.api"}) }, authn.ErrInvalidToken},
		{"missing_audience", func() string { return p.Token(t, map[string]any{"aud": nil}) }, authn.ErrInvalidToken},
		{"wrongly_signed", func() string { return authntest.Sign(t, other, p.Claims()) }, authn.ErrInvalidToken},
		{"unknown_kid", func() string { return authntest.Sign(t, authntest.NewKey(t, "nope"), p.Claims()) }, authn.ErrInvalidToken},
		{"alg_none", func() string {
			return authntest.Segment(t, map[string]any{"alg": "none"}) + "." + authntest.Segment(t, p.Claims()) + "."
		}, authn.ErrInvalidToken},
		{"hs256", func() string {
			return authntest.SignWithHeader(t, p.Key(), map[string]any{"alg": "HS256", "kid": "key-1"}, p.Claims())
		}, authn.ErrInvalidToken},
		{"crit", func() string {
			return authntest.SignWithHeader(t, p.Key(), map[string]any{"alg": "RS256", "kid": "key-1", "crit": []string{"exp"}, "exp": 1}, p.Claims())
		}, authn.ErrInvalidToken},
		{"no_kid_single_key", func() string {
			return authntest.SignWithHeader(t, p.Key(), map[string]any{"alg": "RS256"}, p.Claims())
		}, nil},
		{"two_segments", func() string { return "abc.def" }, authn.ErrInvalidToken},
		{"garbage", func() string { return "not.a.jwt" }, authn.ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := authn.Token(tt.token())
			_, err := v.Verify(context.Background(), tok)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Verify() = %v, want %v", err, tt.wantErr)
			}
			if err != nil && authn.Description(err) == "" {
				t.Errorf("Verify() error %v has no description", err)
			}
			// The same token again (a cache hit when on) gets the same answer.
			if _, again := v.Verify(context.Background(), tok); fmt.Sprint(again) != fmt.Sprint(err) {
				t.Errorf("Verify() again = %v, first %v", again, err)
			}
		})
	}
}

// TestClaimsScopes: "scope" (split on the space character only) and
// "permissions" grant the RFC 6749 scope-tokens they hold; anything else
// grants nothing, so a granted scope never holds a space and the
// space-joined list a face sends upstream splits back into the same set.
func TestClaimsScopes(t *testing.T) {
	p := authntest.NewProvider(t)
	v, _ := newVerifier(t, p, authn.KeySetConfig{})
	tests := []struct {
		name   string
		claims map[string]any
		want   []string
	}{
		{name: "scope_and_permissions", claims: map[string]any{
			"scope":       "read:messages openid  read:messages",
			"permissions": []any{"write:messages", 42, "openid"},
		}, want: []string{"openid", "read:messages", "write:messages"}},
		{name: "permission_with_space", claims: map[string]any{"permissions": []any{"read:files admin", "read:files"}},
			want: []string{"read:files"}},
		{name: "permission_with_tab", claims: map[string]any{"permissions": []any{"read:files\tadmin"}}},
		{name: "scope_split_by_tab", claims: map[string]any{"scope": "read:files\tadmin openid"}, want: []string{"openid"}},
		{name: "scope_split_by_nbsp", claims: map[string]any{"scope": "read:files\u00a0admin"}},
		{name: "scope_split_by_nel", claims: map[string]any{"scope": "read:files\u0085admin"}},
		{name: "scope_with_quote_and_backslash", claims: map[string]any{"scope": `a"b c\\d e`}, want: []string{"e"}},
		{name: "scope_not_a_string", claims: map[string]any{"scope": []any{"admin"}}},
		{name: "printable_ascii_kept", claims: map[string]any{"scope": "!#[]~ https://api.example.com/read"},
			want: []string{"!#[]~", "https://api.example.com/read"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.Verify(context.Background(), authn.Token(p.Token(t, tc.claims)))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.Scopes, tc.want) {
				t.Errorf("Scopes = %q, want %q", c.Scopes, tc.want)
			}
			if c.Subject != "auth0|alice" {
				t.Errorf("Subject = %q", c.Subject)
			}
		})
	}
}

func TestDiscovery(t *testing.T) {
	p := authntest.NewProvider(t)
	v, _ := newVerifier(t, p, authn.KeySetConfig{Issuer: p.Issuer})
	if _, err := v.Verify(context.Background(), authn.Token(p.Token(t, nil))); err != nil {
		t.Fatalf("Verify with discovered keys: %v", err)
	}
}

func TestKeysUnavailableBeforeFirstFetch(t *testing.T) {
	p := authntest.NewProvider(t)
	keys := authn.NewKeySet(authn.KeySetConfig{JWKSURL: p.JWKSURL()})
	v, err := authn.NewVerifier(keys, authn.VerifierConfig{Issuer: p.Issuer, Audience: authntest.Audience, Algorithms: []string{"RS256"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(context.Background(), authn.Token(p.Token(t, nil)))
	if !errors.Is(err, authn.ErrKeysUnavailable) {
		t.Errorf("Verify() before fetch = %v, want ErrKeysUnavailable", err)
	}
}

func TestKeyRotation(t *testing.T) {
	p := authntest.NewProvider(t)
	v, _ := newVerifier(t, p, authn.KeySetConfig{UnknownKIDInterval: 10 * time.Millisecond})
	k2 := authntest.NewKey(t, "key-2")
	p.SetKeys(p.Key(), k2)
	time.Sleep(20 * time.Millisecond)
	if _, err := v.Verify(context.Background(), authn.Token(authntest.Sign(t, k2, p.Claims()))); err != nil {
		t.Fatalf("token of a rotated-in key: %v", err)
	}
}

func TestUnknownKIDRateLimit(t *testing.T) {
	p := authntest.NewProvider(t)
	v, keys := newVerifier(t, p, authn.KeySetConfig{UnknownKIDInterval: time.Hour})
	before := keys.Fetches()
	for i := range 50 {
		header := map[string]any{"alg": "RS256", "kid": fmt.Sprintf("random-%d", i)}
		tok := authntest.SignWithHeader(t, p.Key(), header, p.Claims())
		if _, err := v.Verify(context.Background(), authn.Token(tok)); !errors.Is(err, authn.ErrInvalidToken) {
			t.Fatalf("Verify(random kid) = %v, want ErrInvalidToken", err)
		}
	}
	if got := keys.Fetches() - before; got > 1 {
		t.Errorf("50 random kids caused %d fetches, want at most 1", got)
	}
}

func BenchmarkVerify(b *testing.B) {
	p := authntest.NewProvider(b)
	keys := authn.NewKeySet(authn.KeySetConfig{JWKSURL: p.JWKSURL()})
	authntest.StartKeys(b, keys)
	ctx := context.Background()
	// The signature path: cache hits are BenchmarkVerifyCached.
	v, err := authn.NewVerifier(keys, authn.VerifierConfig{Issuer: p.Issuer, Audience: authntest.Audience, Algorithms: []string{"RS256"}, CacheSize: -1})
	if err != nil {
		b.Fatal(err)
	}
	tok := authn.Token(p.Token(b, map[string]any{"scope": "read:messages", "permissions": []string{"read:messages"}}))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}
