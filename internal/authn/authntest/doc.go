// Package authntest runs a real identity provider for tests: an RSA key
// generated in the test, its JWKS and OpenID discovery document served by
// httptest on loopback, and a helper that mints tokens.
package authntest
