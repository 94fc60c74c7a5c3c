// Package certreload serves a TLS certificate (and, for mutual TLS, a
// client CA bundle) from PEM files that are re-read when they change, as
// cert-manager and other rotators replace them, without a restart.
//
// A listener uses Reloader.TLSConfig (or GetCertificate alone). The files
// are checked at most once per check interval, on a handshake: no
// goroutine, no watcher. A file that is missing or bad at start is an
// error from New; a bad file later is logged and the previous certificate
// keeps serving, so a half-written rotation never takes the listener down.
package certreload
