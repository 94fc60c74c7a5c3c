// Package proxytest runs the real programs that tests put in front of
// policygate (nginx, Caddy) and reads the configurations they run from the
// docs, so that each test says what it serves and not how a proxy starts,
// listens and stops.
package proxytest
