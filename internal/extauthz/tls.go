package extauthz

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// reloadCheckInterval is the least time between two looks at the files.
const reloadCheckInterval = time.Second

// TLSConfig returns a server TLS configuration that serves certFile and
// keyFile and, when clientCAFile is set, requires client certificates
// signed by one of its CAs. The files are read now (an error stops the
// start) and read again on a handshake after they changed, looked at no
// more than once a second; a change that does not load keeps the previous
// files in service and is logged.
//
// TODO(certreload): replace with the shared internal/certreload once it is
// on main.
func TLSConfig(certFile, keyFile, clientCAFile string, logger *slog.Logger) (*tls.Config, error) {
	return tlsConfig(certFile, keyFile, clientCAFile, logger, reloadCheckInterval)
}

func tlsConfig(certFile, keyFile, clientCAFile string, logger *slog.Logger, every time.Duration) (*tls.Config, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &reloader{certFile: certFile, keyFile: keyFile, caFile: clientCAFile, logger: logger, every: every}
	if err := r.load(); err != nil {
		return nil, err
	}
	base := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"h2"}}
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		cert, pool := r.current()
		c := base.Clone()
		c.GetConfigForClient = nil
		c.Certificates = []tls.Certificate{*cert}
		if pool != nil {
			c.ClientCAs, c.ClientAuth = pool, tls.RequireAndVerifyClientCert
		}
		return c, nil
	}
	return base, nil
}

type reloader struct {
	certFile, keyFile, caFile string
	logger                    *slog.Logger
	every                     time.Duration

	mu        sync.Mutex
	cert      *tls.Certificate
	pool      *x509.CertPool
	stamp     string
	lastCheck time.Time
}

// current returns the certificate and CA pool, re-reading them first when
// the files changed since the last look.
func (r *reloader) current() (*tls.Certificate, *x509.CertPool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.lastCheck) >= r.every {
		r.lastCheck = time.Now()
		if r.stampOf() != r.stamp {
			if err := r.loadLocked(); err != nil {
				r.logger.Warn("gRPC TLS files changed but do not load; keeping the previous ones", "err", err)
			} else {
				r.logger.Info("gRPC TLS files reloaded", "cert", r.certFile)
			}
		}
	}
	return r.cert, r.pool
}

func (r *reloader) load() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastCheck = time.Now()
	return r.loadLocked()
}

func (r *reloader) loadLocked() error {
	stamp := r.stampOf()
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("load gRPC certificate %s: %w", r.certFile, err)
	}
	var pool *x509.CertPool
	if r.caFile != "" {
		pem, err := os.ReadFile(r.caFile)
		if err != nil {
			return fmt.Errorf("read gRPC client CA %s: %w", r.caFile, err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("gRPC client CA %s: %w", r.caFile, errors.New("no PEM certificate found"))
		}
	}
	r.cert, r.pool, r.stamp = &cert, pool, stamp
	return nil
}

// stampOf sums up the files' sizes and modification times; a change in
// any of them means "read again".
func (r *reloader) stampOf() string {
	s := ""
	for _, f := range []string{r.certFile, r.keyFile, r.caFile} {
		if f == "" {
			continue
		}
		fi, err := os.Stat(f)
		if err != nil {
			s += f + ":missing;"
			continue
		}
		s += fmt.Sprintf("%s:%d:%d;", f, fi.Size(), fi.ModTime().UnixNano())
	}
	return s
}
