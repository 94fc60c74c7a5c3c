package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/policygate/policygate/internal/authn/authntest"
)

func TestVersion(t *testing.T) {
	old := version
	version = "v9.9.9-test"
	t.Cleanup(func() { version = old })
	for _, args := range [][]string{{"version"}, {"--version"}} {
		t.Run(strings.TrimLeft(args[0], "-"), func(t *testing.T) {
			var out syncBuffer
			if err := run(context.Background(), args, envFunc(nil), &out, &syncBuffer{}); err != nil {
				t.Fatalf("run(%q) = %v", args, err)
			}
			want := "policygate v9.9.9-test (" + runtime.Version() + ", revision "
			if !strings.HasPrefix(out.String(), want) {
				t.Errorf("run(%q) printed %q, want it to start with %q", args, out.String(), want)
			}
		})
	}
}

func TestVersionFallsBackToBuildInfo(t *testing.T) {
	old := version
	version = ""
	t.Cleanup(func() { version = old })
	b := readBuildInfo()
	if b.Version == "" || b.GoVersion != runtime.Version() || b.Revision == "" {
		t.Errorf("readBuildInfo() = %+v, want a version, %s and a revision", b, runtime.Version())
	}
}

// TestRunOperatorBasics: the build info gauge is exported, and LOG_FORMAT
// text logs for humans.
func TestRunOperatorBasics(t *testing.T) {
	old := version
	version = "v9.9.9-test"
	t.Cleanup(func() { version = old })
	p := authntest.NewProvider(t)
	t.Chdir(t.TempDir())
	env := map[string]string{"LISTEN_ADDR": "127.0.0.1:0", "AUTH_ISSUER": p.Issuer, "AUTH_AUDIENCE": authntest.Audience}
	s := startServer(t, nil, env)
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body := new(strings.Builder)
	_, err = io.Copy(body, resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^policygate_build_info\{goversion="` + regexp.QuoteMeta(runtime.Version()) + `",revision="[^"]+",version="v9\.9\.9-test"\} 1$`)
	if !re.MatchString(body.String()) {
		t.Errorf("/metrics lacks policygate_build_info with version v9.9.9-test:\n%s", grepLines(body.String(), "policygate_build_info"))
	}

	t.Run("log_format_text", func(t *testing.T) {
		env := map[string]string{"LISTEN_ADDR": "127.0.0.1:0", "AUTH_ISSUER": p.Issuer, "AUTH_AUDIENCE": authntest.Audience, "LOG_FORMAT": "text"}
		ctx, cancel := context.WithCancel(context.Background())
		stderr := &syncBuffer{}
		done := make(chan error, 1)
		go func() { done <- run(ctx, nil, envFunc(env), &syncBuffer{}, stderr) }()
		defer func() {
			cancel()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				t.Error("run did not return after cancel")
			}
		}()
		eventually(t, "a text listening line", func() bool { return strings.Contains(stderr.String(), "msg=listening") })
		for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
			if !strings.HasPrefix(line, "time=") {
				t.Errorf("log line is not slog text: %q", line)
			}
		}
	})
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// selfSigned writes a certificate for 127.0.0.1 with serial (and its key)
// to certFile and keyFile, each renamed into place as rotators do, and
// returns the certificate.
func selfSigned(t *testing.T, serial int64, certFile, keyFile string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	for path, block := range map[string]*pem.Block{certFile: {Type: "CERTIFICATE", Bytes: der}, keyFile: {Type: "EC PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(path+".new", pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".new", path); err != nil {
			t.Fatal(err)
		}
	}
	cert, _ := x509.ParseCertificate(der)
	return cert
}

// TestRunTLS: with TLS_CERT_FILE and TLS_KEY_FILE the listener speaks
// https, and a rotated certificate is served without a restart.
func TestRunTLS(t *testing.T) {
	p := authntest.NewProvider(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	first := selfSigned(t, 1, certFile, keyFile)
	t.Chdir(t.TempDir())
	s := startUnready(t, nil, map[string]string{
		"LISTEN_ADDR": "127.0.0.1:0", "AUTH_ISSUER": p.Issuer, "AUTH_AUDIENCE": authntest.Audience,
		"TLS_CERT_FILE": certFile, "TLS_KEY_FILE": keyFile,
	})
	addr := strings.TrimPrefix(s.url, "http://")
	if !strings.Contains(s.stderr.String(), `"tls":true`) {
		t.Errorf("the listening line does not say tls:\n%s", s.stderr.String())
	}
	trusting := func(certs ...*x509.Certificate) *http.Client {
		pool := x509.NewCertPool()
		for _, c := range certs {
			pool.AddCert(c)
		}
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	}
	client := trusting(first)
	eventually(t, "https /readyz answers 200", func() bool {
		resp, err := client.Get("https://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	if resp, err := client.Get("https://" + addr + "/api/public"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("https GET /api/public = %v, %v; want 200", resp, err)
	} else {
		resp.Body.Close()
	}
	if resp, err := http.Get("http://" + addr + "/api/public"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain http GET = %d, want 400 (Go's answer to http on a TLS port)", resp.StatusCode)
		}
	}

	second := selfSigned(t, 2, certFile, keyFile)
	both := trusting(first, second)
	eventually(t, "the rotated certificate is served", func() bool {
		both.CloseIdleConnections()
		resp, err := both.Get("https://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.TLS != nil && resp.TLS.PeerCertificates[0].SerialNumber.Int64() == 2
	})
}
