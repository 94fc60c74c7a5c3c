package authntest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// Audience is the API identifier the provider's tokens carry by default.
const Audience = "https://api.policygate.test"

// Key is a signing key with its kid.
type Key struct {
	KID     string
	Private *rsa.PrivateKey
}

// NewKey generates a 2048-bit RSA key.
func NewKey(t testing.TB, kid string) *Key {
	t.Helper()
	pk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("generate RSA key: %v", err)
	}
	return &Key{KID: kid, Private: pk}
}

// Provider is an identity provider on 127.0.0.1.
type Provider struct {
	Server *httptest.Server
	Issuer string // Server.URL + "/"

	mu       sync.Mutex
	keys     []*Key
	handler  http.HandlerFunc // overrides the JWKS handler when set
	maxAge   int
	requests atomic.Int64
}

// NewProvider starts a provider with one key, closed when the test ends.
func NewProvider(t testing.TB) *Provider {
	t.Helper()
	p := &Provider{keys: []*Key{NewKey(t, "key-1")}, maxAge: -1}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"issuer": p.Issuer, "jwks_uri": p.JWKSURL()})
	})
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		p.mu.Lock()
		h := p.handler
		p.mu.Unlock()
		if h != nil {
			h(w, r)
			return
		}
		p.ServeKeys(w, r)
	})
	p.Server = httptest.NewServer(mux)
	p.Issuer = p.Server.URL + "/"
	t.Cleanup(p.Server.Close)
	return p
}

// JWKSURL is where the provider serves its keys.
func (p *Provider) JWKSURL() string { return p.Server.URL + "/.well-known/jwks.json" }

// JWKSRequests counts requests for the key set.
func (p *Provider) JWKSRequests() int64 { return p.requests.Load() }

// Key returns the provider's first signing key.
func (p *Provider) Key() *Key {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keys[0]
}

// SetKeys replaces the published keys (rotation, removal).
func (p *Provider) SetKeys(keys ...*Key) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = keys
}

// SetMaxAge makes the key set carry Cache-Control: max-age=s (-1: none).
func (p *Provider) SetMaxAge(s int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.maxAge = s
}

// SetHandler replaces the JWKS handler to inject faults; nil restores it.
func (p *Provider) SetHandler(h http.HandlerFunc) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.handler = h
}

// ServeKeys writes the current public keys as a JWKS.
func (p *Provider) ServeKeys(w http.ResponseWriter, _ *http.Request) {
	p.mu.Lock()
	keys, maxAge := p.keys, p.maxAge
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if maxAge >= 0 {
		w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", maxAge))
	}
	w.Write(JWKS(keys...))
}

// JWKS renders public keys as a JWK Set with use "sig" and alg RS256.
func JWKS(keys ...*Key) []byte {
	set := jwk.NewSet()
	for _, k := range keys {
		pub, err := jwk.Import(&k.Private.PublicKey)
		if err != nil {
			panic(err)
		}
		pub.Set(jwk.KeyIDKey, k.KID)
		pub.Set(jwk.AlgorithmKey, jwa.RS256())
		pub.Set(jwk.KeyUsageKey, "sig")
		set.AddKey(pub)
	}
	b, err := json.Marshal(set)
	if err != nil {
		panic(err)
	}
	return b
}

// Claims returns valid claims for this provider: iss, aud, sub, iat, exp
// one hour ahead. Tests change or delete entries to make bad tokens.
func (p *Provider) Claims() map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": p.Issuer,
		"aud": Audience,
		"sub": "auth0|alice",
		"iat": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
	}
}

// Token mints a valid RS256 token with the given extra claims.
func (p *Provider) Token(t testing.TB, extra map[string]any) string {
	t.Helper()
	c := p.Claims()
	for k, v := range extra {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return Sign(t, p.Key(), c)
}

// Sign signs claims with key as RS256 and a kid header.
func Sign(t testing.TB, key *Key, claims map[string]any) string {
	t.Helper()
	return SignWithHeader(t, key, map[string]any{"alg": "RS256", "typ": "JWT", "kid": key.KID}, claims)
}

// SignWithHeader signs claims with key (RS256) under an arbitrary protected
// header, for tests that forge headers; the header is used as given.
func SignWithHeader(t testing.TB, key *Key, header map[string]any, claims any) string {
	t.Helper()
	h := Segment(t, header)
	p := Segment(t, claims)
	signer, err := jws.SignerFor(jwa.RS256())
	if err != nil {
		t.Fatalf("signer: %v", err)
	}
	sig, err := signer.Sign(key.Private, []byte(h+"."+p))
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return h + "." + p + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// Segment base64url-encodes v as JSON (or as is, for []byte).
func Segment(t testing.TB, v any) string {
	t.Helper()
	b, ok := v.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(v); err != nil {
			t.Fatalf("marshal: %v", err)
		}
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
