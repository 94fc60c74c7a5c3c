package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"

	"github.com/policygate/policygate/internal/certreload"
)

// tlsFile is one TLS file setting: the variable and the path it names.
type tlsFile struct{ variable, path string }

// checkTLSFiles loads cert, key and ca (when its path is set) as a TLS
// listener will, at configuration time, so that a bad file stops the
// server before anything listens. Each problem names the variable of the
// file at fault; a certificate and a key that do not match name both.
func checkTLSFiles(bad badFunc, cert, key, ca tlsFile) {
	certPEM, certErr := certreload.ReadPEM(cert.path)
	if certErr == nil {
		certErr = checkCertificate(cert.path, certPEM)
	}
	if certErr != nil {
		bad(cert.variable, "%v", certErr)
	}
	keyPEM, keyErr := certreload.ReadPEM(key.path)
	if keyErr == nil {
		keyErr = checkPrivateKey(key.path, keyPEM)
	}
	if keyErr != nil {
		bad(key.variable, "%v", keyErr)
	}
	var caErr error
	if ca.path != "" {
		var caPEM []byte
		if caPEM, caErr = certreload.ReadPEM(ca.path); caErr == nil && !x509.NewCertPool().AppendCertsFromPEM(caPEM) {
			caErr = fmt.Errorf("%s: no PEM certificate", ca.path)
		}
		if caErr != nil {
			bad(ca.variable, "%v", caErr)
		}
	}
	if certErr != nil || keyErr != nil {
		return
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		bad(key.variable, "%s does not match the certificate of %s (%s): %v", key.path, cert.variable, cert.path, err)
		return
	}
	if caErr != nil {
		return
	}
	// The listener's own loader, for anything the checks above missed.
	var opts []certreload.Option
	if ca.path != "" {
		opts = append(opts, certreload.WithClientCA(ca.path))
	}
	if _, err := certreload.New(cert.path, key.path, opts...); err != nil {
		bad(cert.variable, "%v", err)
	}
}

// checkCertificate wants the first CERTIFICATE block of b to parse, as
// tls.X509KeyPair does.
func checkCertificate(path string, b []byte) error {
	for {
		var block *pem.Block
		if block, b = pem.Decode(b); block == nil {
			return fmt.Errorf("%s: no PEM certificate", path)
		}
		if block.Type == "CERTIFICATE" {
			if _, err := x509.ParseCertificate(block.Bytes); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			return nil
		}
	}
}

// checkPrivateKey wants the first private key block of b to parse in one
// of the forms tls.X509KeyPair reads (PKCS #1, PKCS #8, SEC 1).
func checkPrivateKey(path string, b []byte) error {
	for {
		var block *pem.Block
		if block, b = pem.Decode(b); block == nil {
			return fmt.Errorf("%s: no PEM private key", path)
		}
		if block.Type != "PRIVATE KEY" && !strings.HasSuffix(block.Type, " PRIVATE KEY") {
			continue
		}
		if _, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
			return nil
		}
		if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
			return nil
		}
		if _, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
			return nil
		}
		return fmt.Errorf("%s: the private key is not PKCS #1, PKCS #8 or SEC 1", path)
	}
}
