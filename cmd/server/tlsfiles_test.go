package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/policygate/policygate/internal/certreload"
)

// TestCheckTLSFiles: each bad file is reported under its own variable,
// with the file named; a certificate and a key that do not match name
// both variables.
func TestCheckTLSFiles(t *testing.T) {
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	selfSigned(t, 1, path("a.crt"), path("a.key"))
	selfSigned(t, 2, path("b.crt"), path("b.key"))
	if err := os.WriteFile(path("junk.pem"), []byte("not pem\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, certreload.MaxPEMBytes+1)
	if err := os.WriteFile(path("big.pem"), big, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		cert, key, ca string
		want          []string // the start of each line reported, in order
	}{
		{name: "good_pair", cert: "a.crt", key: "a.key"},
		{name: "good_pair_and_ca", cert: "a.crt", key: "a.key", ca: "b.crt"},
		{name: "missing_cert", cert: "none.crt", key: "a.key", want: []string{"CERT: open " + path("none.crt")}},
		{name: "missing_key", cert: "a.crt", key: "none.key", want: []string{"KEY: open " + path("none.key")}},
		{name: "missing_ca", cert: "a.crt", key: "a.key", ca: "none.pem", want: []string{"CA: open " + path("none.pem")}},
		{name: "cert_is_a_key", cert: "a.key", key: "a.key", want: []string{"CERT: " + path("a.key") + ": no PEM certificate"}},
		{name: "key_is_a_cert", cert: "a.crt", key: "a.crt", want: []string{"KEY: " + path("a.crt") + ": no PEM private key"}},
		{name: "key_is_junk", cert: "a.crt", key: "junk.pem", want: []string{"KEY: " + path("junk.pem") + ": no PEM private key"}},
		{name: "ca_is_junk", cert: "a.crt", key: "a.key", ca: "junk.pem", want: []string{"CA: " + path("junk.pem") + ": no PEM certificate"}},
		{name: "ca_is_a_key", cert: "a.crt", key: "a.key", ca: "a.key", want: []string{"CA: " + path("a.key") + ": no PEM certificate"}},
		{name: "cert_too_big", cert: "big.pem", key: "a.key", want: []string{"CERT: " + path("big.pem") + " is larger than"}},
		{name: "both_bad", cert: "junk.pem", key: "a.crt", ca: "junk.pem", want: []string{"CERT: ", "KEY: ", "CA: "}},
		{name: "pair_mismatch", cert: "a.crt", key: "b.key", want: []string{"KEY: " + path("b.key") + " does not match the certificate of CERT (" + path("a.crt") + ")"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			bad := badFunc(func(variable, format string, args ...any) {
				got = append(got, variable+": "+fmt.Sprintf(format, args...))
			})
			ca := tlsFile{"CA", ""}
			if tt.ca != "" {
				ca.path = path(tt.ca)
			}
			checkTLSFiles(bad, tlsFile{"CERT", path(tt.cert)}, tlsFile{"KEY", path(tt.key)}, ca)
			if len(got) != len(tt.want) {
				t.Fatalf("checkTLSFiles() reported %q, want %d lines like %q", got, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("checkTLSFiles() line %d = %q, want %q", i, got[i], w)
				}
			}
		})
	}
}
