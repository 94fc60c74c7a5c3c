// Package authn turns an HTTP Authorization header into verified token claims.
// It owns the signing keys (JWKS fetch, cache, rotation) and knows nothing of
// policy: what a verified caller may do is decided elsewhere.
package authn
