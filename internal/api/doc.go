// Package api is policygate's HTTP face: the chi router, the built-in API
// routes, health, readiness and metrics, and the single error table. It is
// the only package that writes HTTP responses.
package api
