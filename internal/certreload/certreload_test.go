package certreload_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/policygate/policygate/internal/certreload"
)

// issued is a certificate and its key, PEM-encoded, with its parsed form.
type issued struct {
	certPEM, keyPEM []byte
	cert            *x509.Certificate
	key             *ecdsa.PrivateKey
}

// issue makes a certificate for 127.0.0.1 with serial, signed by parent
// (self-signed when parent is nil); isCA makes it a CA.
func issue(t *testing.T, serial int64, parent *issued, isCA bool) *issued {
	t.Helper()
	return issueUntil(t, serial, parent, isCA, time.Now().Add(time.Hour))
}

// issueUntil is issue with the certificate's NotAfter.
func issueUntil(t *testing.T, serial int64, parent *issued, isCA bool, notAfter time.Time) *issued {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "policygate test"},
		NotBefore:    notAfter.Add(-2 * time.Hour),
		NotAfter:     notAfter,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IsCA:         isCA, BasicConstraintsValid: true,
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &issued{
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		cert:    cert, key: key,
	}
}

// replace writes content to path the way rotators do: a new file renamed
// into place.
func replace(t *testing.T, path string, content []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, content, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// serve runs a TLS listener on 127.0.0.1 with cfg that completes
// handshakes and closes each connection.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// servedSerial dials addr and returns the serial of the certificate it
// presents (verification is the caller's business, not this helper's).
func servedSerial(t *testing.T, addr string, client *tls.Config) (int64, error) {
	t.Helper()
	cfg := client.Clone()
	cfg.InsecureSkipVerify = true
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	// A refused client certificate shows on the first read in TLS 1.3.
	if _, err := c.Read(make([]byte, 1)); err != nil && !strings.Contains(err.Error(), "EOF") {
		return 0, err
	}
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64(), nil
}

func writePair(t *testing.T, dir string, c *issued) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	replace(t, certFile, c.certPEM)
	replace(t, keyFile, c.keyPEM)
	return certFile, keyFile
}

// syncBuffer is a log sink safe for the listener's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestReloadOnRotation(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writePair(t, dir, issue(t, 1, nil, false))
	logs := &syncBuffer{}
	r, err := certreload.New(certFile, keyFile, certreload.WithCheckInterval(0),
		certreload.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, r.TLSConfig())
	steps := []struct {
		name       string
		write      func()
		wantSerial int64
		wantLog    string
	}{
		{name: "initial", write: func() {}, wantSerial: 1},
		{name: "rotated", write: func() { writePair(t, dir, issue(t, 2, nil, false)) }, wantSerial: 2, wantLog: "TLS certificate reloaded"},
		{name: "garbage_cert_keeps_old", write: func() { replace(t, certFile, []byte("not a certificate")) }, wantSerial: 2, wantLog: "TLS certificate not reloaded"},
		{name: "key_mismatch_keeps_old", write: func() {
			replace(t, certFile, issue(t, 3, nil, false).certPEM)
		}, wantSerial: 2, wantLog: "private key does not match public key"},
		{name: "missing_key_keeps_old", write: func() { os.Remove(keyFile) }, wantSerial: 2, wantLog: "no such file"},
		{name: "expired_keeps_old", write: func() { writePair(t, dir, issueUntil(t, 5, nil, false, time.Now().Add(-time.Hour))) }, wantSerial: 2, wantLog: "expired at"},
		{name: "rotated_again", write: func() { writePair(t, dir, issue(t, 4, nil, false)) }, wantSerial: 4},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.write()
			got, err := servedSerial(t, addr, &tls.Config{})
			if err != nil || got != st.wantSerial {
				t.Fatalf("served serial = %d, %v; want %d", got, err, st.wantSerial)
			}
			if !strings.Contains(logs.String(), st.wantLog) {
				t.Errorf("logs lack %q:\n%s", st.wantLog, logs.String())
			}
		})
	}
}

func TestGetCertificateAlone(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writePair(t, dir, issue(t, 7, nil, false))
	r, err := certreload.New(certFile, keyFile, certreload.WithCheckInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, &tls.Config{GetCertificate: r.GetCertificate})
	if got, err := servedSerial(t, addr, &tls.Config{}); err != nil || got != 7 {
		t.Fatalf("served serial = %d, %v; want 7", got, err)
	}
	writePair(t, dir, issue(t, 8, nil, false))
	if got, err := servedSerial(t, addr, &tls.Config{}); err != nil || got != 8 {
		t.Errorf("after rotation: served serial = %d, %v; want 8", got, err)
	}
}

// TestCheckInterval: within the interval the files are not read again.
func TestCheckInterval(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writePair(t, dir, issue(t, 1, nil, false))
	r, err := certreload.New(certFile, keyFile, certreload.WithCheckInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	writePair(t, dir, issue(t, 2, nil, false))
	c, _ := r.GetCertificate(nil)
	if c.Leaf.SerialNumber.Int64() != 1 {
		t.Errorf("serial within the interval = %v, want 1", c.Leaf.SerialNumber)
	}
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if c, _ := r.GetCertificate(nil); c.Leaf.SerialNumber.Int64() != 2 {
		t.Errorf("serial after Reload = %v, want 2", c.Leaf.SerialNumber)
	}
}

func TestNewRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	good := issue(t, 1, nil, false)
	certFile, keyFile := writePair(t, dir, good)
	garbage := filepath.Join(dir, "garbage.pem")
	replace(t, garbage, []byte("-----BEGIN NOTHING-----\n"))
	other := filepath.Join(dir, "other.key")
	replace(t, other, issue(t, 2, nil, false).keyPEM)
	expiredCert, expiredKey := writePair(t, t.TempDir(), issueUntil(t, 3, nil, false, time.Now().Add(-time.Minute)))
	// A valid leaf whose intermediate has expired, the chain in the file.
	root := issue(t, 10, nil, true)
	intermediate := issueUntil(t, 11, root, true, time.Now().Add(-time.Minute))
	leaf := issue(t, 12, intermediate, false)
	leaf.certPEM = append(leaf.certPEM, intermediate.certPEM...)
	chainCert, chainKey := writePair(t, t.TempDir(), leaf)
	tests := []struct {
		name          string
		cert, key, ca string
		want          string
	}{
		{name: "missing_cert", cert: filepath.Join(dir, "none.crt"), key: keyFile, want: "none.crt"},
		{name: "missing_key", cert: certFile, key: filepath.Join(dir, "none.key"), want: "none.key"},
		{name: "garbage_cert", cert: garbage, key: keyFile, want: "garbage.pem"},
		{name: "mismatched_key", cert: certFile, key: other, want: "does not match"},
		{name: "expired", cert: expiredCert, key: expiredKey, want: "expired at"},
		{name: "expired_intermediate", cert: chainCert, key: chainKey, want: "number 2 of its chain) expired at"},
		{name: "missing_ca", cert: certFile, key: keyFile, ca: filepath.Join(dir, "none-ca.pem"), want: "none-ca.pem"},
		{name: "garbage_ca", cert: certFile, key: keyFile, ca: garbage, want: "client CA"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var opts []certreload.Option
			if tc.ca != "" {
				opts = append(opts, certreload.WithClientCA(tc.ca))
			}
			_, err := certreload.New(tc.cert, tc.key, opts...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New() = %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

// TestClientCA: with a client CA, a client needs a certificate that CA
// signed; a rotated CA file is used from the next handshake.
func TestClientCA(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writePair(t, dir, issue(t, 1, nil, false))
	caA, caB := issue(t, 100, nil, true), issue(t, 200, nil, true)
	caFile := filepath.Join(dir, "ca.crt")
	replace(t, caFile, caA.certPEM)
	r, err := certreload.New(certFile, keyFile, certreload.WithClientCA(caFile), certreload.WithCheckInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, r.TLSConfig())
	clientOf := func(ca *issued) *tls.Config {
		c := issue(t, 300, ca, false)
		pair, err := tls.X509KeyPair(c.certPEM, c.keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return &tls.Config{Certificates: []tls.Certificate{pair}}
	}
	tests := []struct {
		name    string
		caFile  []byte
		client  *tls.Config
		wantErr bool
	}{
		{name: "signed_by_ca", client: clientOf(caA)},
		{name: "no_client_cert", client: &tls.Config{}, wantErr: true},
		{name: "other_ca", client: clientOf(caB), wantErr: true},
		{name: "ca_rotated_old_refused", caFile: caB.certPEM, client: clientOf(caA), wantErr: true},
		{name: "ca_rotated_new_accepted", client: clientOf(caB)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.caFile != nil {
				replace(t, caFile, tc.caFile)
			}
			_, err := servedSerial(t, addr, tc.client)
			if (err != nil) != tc.wantErr {
				t.Errorf("handshake error = %v, want error %v", err, tc.wantErr)
			}
		})
	}
}
