// Package idp is the load comparison's identity provider: one RSA-2048
// key, its JWKS and OpenID discovery document served on loopback, and a
// minter for RS256 access tokens. It uses the standard library only, so
// the tokens are checked by each target's own JWT code, not by shared code.
package idp

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"runtime"
	"sync"
	"time"
)

// Audience is the API identifier every target is configured with.
const Audience = "https://api.policygate.bench"

// KID names the one signing key.
const KID = "bench-key-1"

// Provider signs tokens and serves its public key.
type Provider struct {
	Issuer string // "http://127.0.0.1:PORT/"
	key    *rsa.PrivateKey
	srv    *http.Server
	ln     net.Listener
}

// Start generates a key and serves discovery and JWKS on 127.0.0.1.
func Start() (*Provider, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Provider{Issuer: "http://" + ln.Addr().String() + "/", key: key, ln: ln}
	jwks, err := json.Marshal(map[string]any{"keys": []any{map[string]string{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": KID,
		"n": b64(key.PublicKey.N.Bytes()),
		"e": b64(big.NewInt(int64(key.PublicKey.E)).Bytes()),
	}}})
	if err != nil {
		return nil, err
	}
	discovery, err := json.Marshal(map[string]string{"issuer": p.Issuer, "jwks_uri": p.JWKSURL()})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/jwks.json", serve(jwks))
	mux.HandleFunc("GET /.well-known/openid-configuration", serve(discovery))
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go p.srv.Serve(ln)
	return p, nil
}

func serve(body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Write(body)
	}
}

// JWKSURL is where the public key is served.
func (p *Provider) JWKSURL() string { return p.Issuer + ".well-known/jwks.json" }

// Close stops serving.
func (p *Provider) Close() error { return p.srv.Close() }

// Mint signs one RS256 access token for sub with the given scope, valid
// from now for ttl.
func (p *Provider) Mint(sub, scope string, ttl time.Duration) (string, error) {
	now := time.Now()
	header, err := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": KID})
	if err != nil {
		return "", err
	}
	claims, err := json.Marshal(map[string]any{
		"iss": p.Issuer, "aud": Audience, "sub": sub, "scope": scope,
		"iat": now.Unix(), "exp": now.Add(ttl).Unix(),
	})
	if err != nil {
		return "", err
	}
	signingInput := b64(header) + "." + b64(claims)
	digest := sha256.Sum256([]byte(signingInput))
	sig, err := rsa.SignPKCS1v15(nil, p.key, crypto.SHA256, digest[:])
	if err != nil {
		return "", err
	}
	return signingInput + "." + b64(sig), nil
}

// MintMany signs n distinct tokens (sub prefix-0 ... prefix-(n-1)) on
// every core: an RSA-2048 signature costs about a millisecond.
func (p *Provider) MintMany(n int, prefix, scope string, ttl time.Duration) ([]string, error) {
	tokens := make([]string, n)
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				tok, err := p.Mint(fmt.Sprintf("%s-%d", prefix, i), scope, ttl)
				if err != nil {
					errs[w] = err
					return
				}
				tokens[i] = tok
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return tokens, nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
