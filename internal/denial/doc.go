// Package denial renders a gate outcome for any protocol: the status, the
// RFC 6750 WWW-Authenticate challenge and the JSON error body of a denial,
// and the identity headers of an allow. Every face (the built-in routes,
// forward-auth, the reverse proxy, Envoy's gRPC Check) answers through it,
// so a client sees the same bytes whichever face it went through.
package denial
