package devissuer

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/policygate/policygate/internal/authn"
)

// Audience is the API identifier of dev tokens.
const Audience = "https://policygate.dev/api"

// MaxTTL bounds the lifetime of a minted token.
const MaxTTL = 24 * time.Hour

// Issuer signs dev tokens.
type Issuer struct {
	issuer   string
	resource string // also in "aud" when set
	kid      string
	key      jwk.Key
	jwks     []byte
}

// New generates a fresh RSA-2048 key for issuer (e.g. "http://127.0.0.1:3010/").
func New(issuer string) (*Issuer, error) {
	raw, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate dev key: %w", err)
	}
	id := make([]byte, 6)
	rand.Read(id)
	kid := "policygate-dev-" + hex.EncodeToString(id)
	key, err := jwk.Import(raw)
	if err != nil {
		return nil, fmt.Errorf("import dev key: %w", err)
	}
	for name, v := range map[string]any{jwk.KeyIDKey: kid, jwk.AlgorithmKey: jwa.RS256(), jwk.KeyUsageKey: "sig"} {
		if err := key.Set(name, v); err != nil {
			return nil, fmt.Errorf("dev key %s: %w", name, err)
		}
	}
	pub, err := key.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("dev public key: %w", err)
	}
	set := jwk.NewSet()
	set.AddKey(pub)
	jwks, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("dev jwks: %w", err)
	}
	return &Issuer{issuer: issuer, kid: kid, key: key, jwks: jwks}, nil
}

// URL is the issuer identifier ("iss").
func (i *Issuer) URL() string { return i.issuer }

// JWKSURL is where the key set is served.
func (i *Issuer) JWKSURL() string { return i.issuer + ".well-known/jwks.json" }

// WithResource adds resource (the dev server's own URL, its PUBLIC_URL)
// to the audience of the tokens it mints, as an authorization server does
// for a client that asked for that resource (RFC 8707). Call it before
// serving.
func (i *Issuer) WithResource(resource string) *Issuer {
	i.resource = resource
	return i
}

// MintOptions describe a dev token.
type MintOptions struct {
	Subject string        // default "dev-user"
	Scopes  []string      // the space-separated "scope" claim
	TTL     time.Duration // default one hour, at most MaxTTL
}

// Mint signs an RS256 access token for Audience (and the resource, when
// set).
func (i *Issuer) Mint(o MintOptions) (string, error) {
	if o.Subject == "" {
		o.Subject = "dev-user"
	}
	o.TTL = o.TTLOrDefault()
	if o.TTL > MaxTTL {
		return "", fmt.Errorf("ttl %s is longer than %s", o.TTL, MaxTTL)
	}
	now := time.Now().Truncate(time.Second)
	aud := []string{Audience}
	if i.resource != "" {
		aud = append(aud, i.resource)
	}
	b := jwt.NewBuilder().
		Issuer(i.issuer).
		Audience(aud).
		Subject(o.Subject).
		IssuedAt(now).
		NotBefore(now).
		Expiration(now.Add(o.TTL))
	if len(o.Scopes) > 0 {
		b = b.Claim("scope", strings.Join(o.Scopes, " "))
	}
	tok, err := b.Build()
	if err != nil {
		return "", fmt.Errorf("build dev token: %w", err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256(), i.key))
	if err != nil {
		return "", fmt.Errorf("sign dev token: %w", err)
	}
	return string(signed), nil
}

// Routes returns the issuer's HTTP endpoints by pattern: the discovery
// document, the JWKS and GET /dev/token?scope=...&sub=...&ttl=1h.
func (i *Issuer) Routes() map[string]http.Handler {
	return map[string]http.Handler{
		"/.well-known/openid-configuration": http.HandlerFunc(i.serveDiscovery),
		"/.well-known/jwks.json":            http.HandlerFunc(i.serveJWKS),
		"/dev/token":                        http.HandlerFunc(i.serveToken),
	}
}

func (i *Issuer) serveDiscovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                i.issuer,
		"jwks_uri":                              i.JWKSURL(),
		"id_token_signing_alg_values_supported": []string{"RS256"},
	})
}

func (i *Issuer) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(i.jwks)
}

func (i *Issuer) serveToken(w http.ResponseWriter, r *http.Request) {
	// The dev server listens on loopback only, but a web page can reach it
	// under a name of its own that resolves there (DNS rebinding) and mint
	// tokens with any scope: only a loopback Host is answered.
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if !authn.IsLoopbackHost(host) {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "access_denied", "error_description": "dev tokens are minted only for requests to localhost or a loopback address"})
		return
	}
	q := r.URL.Query()
	o := MintOptions{Subject: q.Get("sub"), Scopes: strings.Fields(strings.Join(q["scope"], " "))}
	if ttl := q.Get("ttl"); ttl != "" {
		d, err := time.ParseDuration(ttl)
		if err != nil {
			if n, nerr := strconv.Atoi(ttl); nerr == nil {
				d, err = time.Duration(n)*time.Second, nil
			}
		}
		if err != nil || d <= 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "ttl must be a positive duration such as 1h"})
			return
		}
		o.TTL = d
	}
	tok, err := i.Mint(o)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": int(o.TTLOrDefault().Seconds()), "scope": strings.Join(o.Scopes, " ")})
}

// TTLOrDefault is the lifetime Mint uses.
func (o MintOptions) TTLOrDefault() time.Duration {
	if o.TTL <= 0 {
		return time.Hour
	}
	return o.TTL
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
