// Package gate is the one pipeline every face shares: request attributes and
// credentials in, verified claims and a policy decision through, an Outcome
// out. It knows no protocol; the HTTP router, a forward-auth endpoint or an
// Envoy check server each translate to a Request and back from an Outcome.
package gate
