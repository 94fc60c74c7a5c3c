package extauthz

import (
	"crypto/tls"
	"log/slog"
	"time"
)

// TLSConfigEvery is TLSConfig looking at the files every interval, so a
// test sees a change without waiting a second.
func TLSConfigEvery(certFile, keyFile, clientCAFile string, logger *slog.Logger, interval time.Duration) (*tls.Config, error) {
	return tlsConfig(certFile, keyFile, clientCAFile, logger, interval)
}
