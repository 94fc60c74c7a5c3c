package certreload

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
)

// DefaultCheckInterval is the least time between two reads of the files.
const DefaultCheckInterval = time.Second

// MaxPEMBytes bounds each file read (ReadPEM).
const MaxPEMBytes = 1 << 20

// Option configures a Reloader.
type Option func(*Reloader)

// WithClientCA requires clients to present a certificate signed by one of
// the CAs in the PEM file caFile (mutual TLS); the file is re-read like the
// certificate.
func WithClientCA(caFile string) Option { return func(r *Reloader) { r.caFile = caFile } }

// WithLogger sets where failed reloads are logged.
func WithLogger(l *slog.Logger) Option { return func(r *Reloader) { r.logger = l } }

// WithCheckInterval sets the least time between two reads of the files;
// 0 or less reads them on every handshake.
func WithCheckInterval(d time.Duration) Option { return func(r *Reloader) { r.interval = d } }

// Reloader holds the current certificate (and client CAs) read from files.
type Reloader struct {
	certFile, keyFile, caFile string
	logger                    *slog.Logger
	interval                  time.Duration

	mu        sync.Mutex
	current   *state
	lastCheck time.Time
	failed    []byte // the file contents that last failed to load
	lastErr   error  // why they failed; nil when the files serve
}

// state is one loaded version of the files.
type state struct {
	raw       []byte // cert, key and CA file contents, to notice changes
	cert      *tls.Certificate
	clientCAs *x509.CertPool // nil without a client CA file
}

// New reads certFile and keyFile (PEM; the certificate file may hold the
// chain) and returns a Reloader serving them. A missing or bad file is an
// error naming it.
func New(certFile, keyFile string, opts ...Option) (*Reloader, error) {
	r := &Reloader{certFile: certFile, keyFile: keyFile, interval: DefaultCheckInterval}
	for _, o := range opts {
		o(r)
	}
	if r.logger == nil {
		r.logger = slog.New(slog.DiscardHandler)
	}
	f, err := r.read()
	if err != nil {
		return nil, err
	}
	s, err := r.parse(f)
	if err != nil {
		return nil, err
	}
	r.current, r.lastCheck = s, time.Now()
	return r, nil
}

// files is one reading of the certificate, key and client CA files.
type files struct{ cert, key, ca []byte }

func (f files) join() []byte {
	return bytes.Join([][]byte{f.cert, f.key, f.ca}, []byte{0})
}

func (r *Reloader) read() (files, error) {
	var f files
	var err error
	if f.cert, err = ReadPEM(r.certFile); err != nil {
		return f, err
	}
	if f.key, err = ReadPEM(r.keyFile); err != nil {
		return f, err
	}
	if r.caFile != "" {
		if f.ca, err = ReadPEM(r.caFile); err != nil {
			return f, err
		}
	}
	return f, nil
}

// ReadPEM reads one PEM file as every reload reads it: a file larger than
// MaxPEMBytes is refused.
func ReadPEM(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxPEMBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(b) > MaxPEMBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, MaxPEMBytes)
	}
	return b, nil
}

// parse turns one reading of the files into a usable version.
func (r *Reloader) parse(f files) (*state, error) {
	cert, err := tls.X509KeyPair(f.cert, f.key)
	if err != nil {
		return nil, fmt.Errorf("certificate %s with key %s: %w", r.certFile, r.keyFile, err)
	}
	// An expired certificate in the chain fails every handshake: the one
	// serving stays. (Not before its NotBefore: a fresh one may look early
	// to a clock a little behind, and a refused version is not read again.)
	for i, der := range cert.Certificate {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("certificate %s, number %d of its chain: %w", r.certFile, i+1, err)
		}
		if time.Now().After(c.NotAfter) {
			return nil, fmt.Errorf("certificate %s: %q (number %d of its chain) expired at %s",
				r.certFile, c.Subject.CommonName, i+1, c.NotAfter.UTC().Format(time.RFC3339))
		}
	}
	s := &state{raw: f.join(), cert: &cert}
	if r.caFile != "" {
		s.clientCAs = x509.NewCertPool()
		if !s.clientCAs.AppendCertsFromPEM(f.ca) {
			return nil, fmt.Errorf("client CA %s: no PEM certificate", r.caFile)
		}
	}
	return s, nil
}

// Reload reads the files now. On failure the previous version stays in
// use and the error is returned (and logged once per bad version).
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reloadLocked()
}

func (r *Reloader) reloadLocked() error {
	r.lastCheck = time.Now()
	f, err := r.read()
	var s *state
	if err == nil {
		raw := f.join()
		switch {
		case bytes.Equal(raw, r.current.raw):
			r.failed, r.lastErr = nil, nil
			return nil
		case r.lastErr != nil && bytes.Equal(raw, r.failed):
			return r.lastErr // the same bad version: logged already
		}
		r.failed = raw
		s, err = r.parse(f)
	}
	if err != nil {
		if r.lastErr == nil || r.lastErr.Error() != err.Error() {
			r.logger.Error("TLS certificate not reloaded; the previous one keeps serving", "cert_file", r.certFile, "err", err.Error())
		}
		r.lastErr = err
		return err
	}
	r.current, r.failed, r.lastErr = s, nil, nil
	attrs := []any{"cert_file", r.certFile}
	if leaf := s.cert.Leaf; leaf != nil {
		attrs = append(attrs, "serial", leaf.SerialNumber.String(), "not_after", leaf.NotAfter)
	}
	r.logger.Info("TLS certificate reloaded", attrs...)
	return nil
}

// state returns the current version, re-reading the files first when the
// check interval has passed.
func (r *Reloader) state() *state {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.lastCheck) >= r.interval {
		r.reloadLocked() // failures are logged; the previous version serves
	}
	return r.current
}

// GetCertificate is for tls.Config.GetCertificate: the current certificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.state().cert, nil
}

// TLSConfig returns a server configuration (TLS 1.2 or later) whose
// certificate and, with WithClientCA, client CAs and required client
// certificate, come from the current files on every handshake. It works
// for net/http and for gRPC (credentials.NewTLS): whatever the caller sets
// on the returned config (NextProtos, cipher suites) is kept.
func (r *Reloader) TLSConfig() *tls.Config {
	base := &tls.Config{MinVersion: tls.VersionTLS12}
	base.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		s := r.state()
		c := base.Clone()
		c.GetConfigForClient = nil
		c.GetCertificate = nil
		c.Certificates = []tls.Certificate{*s.cert}
		if s.clientCAs != nil {
			c.ClientCAs = s.clientCAs
			c.ClientAuth = tls.RequireAndVerifyClientCert
		}
		return c, nil
	}
	base.GetCertificate = r.GetCertificate
	return base
}
