package extauthz_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"path/filepath"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/certreload"
	"github.com/policygate/policygate/internal/extauthz"
	"github.com/policygate/policygate/internal/testfile"
)

// testCA issues certificates for a test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a PEM certificate and key for name, for a server (with
// 127.0.0.1 as its address) or a client.
func (ca *testCA) issue(t *testing.T, name string, server bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage, tmpl.IPAddresses = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func TestTLS(t *testing.T) {
	s := newStack(t, authn.KeySetConfig{})
	dir := t.TempDir()
	serverCA, clientCA, otherCA := newCA(t, "server CA"), newCA(t, "client CA"), newCA(t, "other CA")
	certFile, keyFile, caFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "ca.crt")
	crt, key := serverCA.issue(t, "policygate-1", true)
	testfile.Write(t, certFile, string(crt))
	testfile.Write(t, keyFile, string(key))
	testfile.Write(t, caFile, string(clientCA.pem))
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(serverCA.pem)
	clientPair := func(ca *testCA) []tls.Certificate {
		c, k := ca.issue(t, "envoy", false)
		pair, err := tls.X509KeyPair(c, k)
		if err != nil {
			t.Fatal(err)
		}
		return []tls.Certificate{pair}
	}
	req := checkRequest("GET", "api.example.com", "/api/public", nil)

	for _, mtls := range []bool{false, true} {
		name := map[bool]string{false: "tls", true: "mtls"}[mtls]
		ca := ""
		if mtls {
			ca = caFile
		}
		opts := []certreload.Option{certreload.WithCheckInterval(0)}
		if ca != "" {
			opts = append(opts, certreload.WithClientCA(ca))
		}
		certs, err := certreload.New(certFile, keyFile, opts...)
		if err != nil {
			t.Fatal(err)
		}
		_, addr := serve(t, extauthz.Config{Gate: s.gate, Renderer: s.render, TLS: certs.TLSConfig()})
		tests := []struct {
			name   string
			client *tls.Config
			wantOK bool
		}{
			{name: "trusted_client_cert", client: &tls.Config{RootCAs: roots, Certificates: clientPair(clientCA)}, wantOK: true},
			{name: "no_client_cert", client: &tls.Config{RootCAs: roots}, wantOK: !mtls},
			{name: "client_cert_other_ca", client: &tls.Config{RootCAs: roots, Certificates: clientPair(otherCA)}, wantOK: !mtls},
			{name: "server_not_trusted", client: &tls.Config{RootCAs: x509.NewCertPool(), Certificates: clientPair(clientCA)}, wantOK: false},
			{name: "plaintext_client", client: nil, wantOK: false},
		}
		for _, tt := range tests {
			t.Run(name+"/"+tt.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				resp, err := authv3.NewAuthorizationClient(dial(t, addr, tt.client)).Check(ctx, req)
				if tt.wantOK {
					if err != nil || resp.GetOkResponse() == nil {
						t.Fatalf("Check() = %v, %v; want OK", resp, err)
					}
					return
				}
				if err == nil || status.Code(err) != codes.Unavailable {
					t.Fatalf("Check() = %v, %v; want the connection refused (Unavailable)", resp, err)
				}
			})
		}
	}

	t.Run("reload_on_change", func(t *testing.T) {
		certs, err := certreload.New(certFile, keyFile, certreload.WithCheckInterval(0))
		if err != nil {
			t.Fatal(err)
		}
		_, addr := serve(t, extauthz.Config{Gate: s.gate, Renderer: s.render, TLS: certs.TLSConfig()})
		served := func() string {
			roots := x509.NewCertPool()
			roots.AppendCertsFromPEM(serverCA.pem)
			roots.AppendCertsFromPEM(otherCA.pem)
			conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, NextProtos: []string{"h2"}})
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer conn.Close()
			return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
		}
		if got := served(); got != "policygate-1" {
			t.Fatalf("served %q, want policygate-1", got)
		}
		crt, key := otherCA.issue(t, "policygate-rotated", true)
		testfile.Write(t, certFile, string(crt))
		testfile.Write(t, keyFile, string(key))
		if got := served(); got != "policygate-rotated" {
			t.Fatalf("after rotation served %q, want policygate-rotated", got)
		}
		testfile.Write(t, keyFile, "not a key")
		if got := served(); got != "policygate-rotated" {
			t.Fatalf("after a broken key file served %q, want the previous certificate kept", got)
		}
	})
}
