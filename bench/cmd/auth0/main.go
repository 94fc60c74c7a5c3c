// Command auth0 is the load comparison's first baseline: Auth0's Go API
// quickstart as its documentation builds it, on chi: go-jwt-middleware/v2
// with its caching JWKS provider and RS256 validator, and the scope check
// written in Go in the handler. It serves the same three routes and bodies
// as policygate.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"net/url"
	"strings"
	"time"

	jwtmiddleware "github.com/auth0/go-jwt-middleware/v2"
	"github.com/auth0/go-jwt-middleware/v2/jwks"
	"github.com/auth0/go-jwt-middleware/v2/validator"
	"github.com/go-chi/chi/v5"
)

// customClaims is the quickstart's: the space-separated scope claim.
type customClaims struct {
	Scope string `json:"scope"`
}

func (c customClaims) Validate(context.Context) error { return nil }

func (c customClaims) hasScope(want string) bool {
	for _, s := range strings.Split(c.Scope, " ") {
		if s == want {
			return true
		}
	}
	return false
}

func main() {
	addr := flag.String("addr", "127.0.0.1:3011", "listen address")
	issuer := flag.String("issuer", "", "exact iss, e.g. http://127.0.0.1:PORT/")
	audience := flag.String("audience", "", "API identifier")
	jwksURL := flag.String("jwks-url", "", "JWKS address (default: discovered from the issuer)")
	flag.Parse()

	issuerURL, err := url.Parse(*issuer)
	if err != nil || *issuer == "" || *audience == "" {
		log.Fatalf("need -issuer and -audience (issuer %q: %v)", *issuer, err)
	}
	var opts []any
	if *jwksURL != "" {
		u, err := url.Parse(*jwksURL)
		if err != nil {
			log.Fatalf("-jwks-url: %v", err)
		}
		opts = append(opts, jwks.WithCustomJWKSURI(u))
	}
	provider := jwks.NewCachingProvider(issuerURL, 5*time.Minute, opts...)
	v, err := validator.New(provider.KeyFunc, validator.RS256, issuerURL.String(), []string{*audience},
		validator.WithCustomClaims(func() validator.CustomClaims { return &customClaims{} }),
		validator.WithAllowedClockSkew(30*time.Second),
	)
	if err != nil {
		log.Fatalf("validator: %v", err)
	}
	mw := jwtmiddleware.New(v.ValidateToken)

	r := chi.NewRouter()
	r.Get("/api/public", message("Hello from a public endpoint! You don't need to be authenticated to see this."))
	r.With(mw.CheckJWT).Get("/api/private", message("Hello from a private endpoint! You need to be authenticated to see this."))
	scoped := message("Hello from a private endpoint! You need to be authenticated and have a scope of read:messages to see this.")
	r.With(mw.CheckJWT).Get("/api/private-scoped", func(w http.ResponseWriter, r *http.Request) {
		token := r.Context().Value(jwtmiddleware.ContextKey{}).(*validator.ValidatedClaims)
		if !token.CustomClaims.(*customClaims).hasScope("read:messages") {
			writeJSON(w, http.StatusForbidden, map[string]string{"message": "Insufficient scope."})
			return
		}
		scoped(w, r)
	})

	srv := &http.Server{Addr: *addr, Handler: r, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

func message(text string) http.HandlerFunc {
	body := map[string]string{"message": text}
	return func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, body) }
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
