// Package certreload serves a TLS certificate (and, for mutual TLS, a
// client CA bundle) from PEM files that are re-read when they change, as
// cert-manager and other rotators replace them, without a restart.
//
// The files are checked at most once per check interval, on a handshake:
// no goroutine, no watcher. A file that is missing or bad at start is an
// error from New; a bad file later is logged and the previous certificate
// keeps serving, so a half-written rotation never takes the listener down.
//
// An HTTP listener needs only the certificate:
//
//	r, err := certreload.New(certFile, keyFile, certreload.WithLogger(logger))
//	srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.GetCertificate}
//
// A gRPC listener with client certificates takes the whole configuration,
// whose GetConfigForClient also sets the current client CAs and requires a
// client certificate (grpc's credentials.NewTLS keeps it and adds h2):
//
//	r, err := certreload.New(certFile, keyFile, certreload.WithClientCA(caFile))
//	creds := credentials.NewTLS(r.TLSConfig())
package certreload
