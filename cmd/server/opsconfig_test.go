package main

import (
	"path/filepath"
	"testing"
	"time"
)

// TestLoadConfigOps covers the operator settings: each problem is reported
// with the others, naming its variable.
func TestLoadConfigOps(t *testing.T) {
	base := func(kv ...string) map[string]string {
		m := map[string]string{"AUTH_ISSUER": "https://idp.example.com/", "AUTH_AUDIENCE": "https://api"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	selfSigned(t, 1, certFile, keyFile)
	tests := []struct {
		name    string
		env     map[string]string
		dev     bool
		wantErr []string
		check   func(t *testing.T, c Config)
	}{
		{name: "shutdown_delay_default", env: base(), check: func(t *testing.T, c Config) {
			if c.ShutdownDelay != 0 {
				t.Errorf("ShutdownDelay = %v, want 0s", c.ShutdownDelay)
			}
		}},
		{name: "shutdown_delay", env: base("SHUTDOWN_DELAY", "5s"), check: func(t *testing.T, c Config) {
			if c.ShutdownDelay != 5*time.Second {
				t.Errorf("ShutdownDelay = %v, want 5s", c.ShutdownDelay)
			}
		}},
		{name: "shutdown_delay_dev", env: map[string]string{"SHUTDOWN_DELAY": "1s"}, dev: true, check: func(t *testing.T, c Config) {
			if c.ShutdownDelay != time.Second {
				t.Errorf("ShutdownDelay = %v, want 1s", c.ShutdownDelay)
			}
		}},
		{name: "shutdown_delay_not_duration", env: base("SHUTDOWN_DELAY", "5"), wantErr: []string{"SHUTDOWN_DELAY"}},
		{name: "shutdown_delay_negative", env: base("SHUTDOWN_DELAY", "-1s"), wantErr: []string{"SHUTDOWN_DELAY"}},
		{name: "shutdown_delay_too_long", env: base("SHUTDOWN_DELAY", "1h"), wantErr: []string{"SHUTDOWN_DELAY"}},
		{name: "log_format_default", env: base(), check: func(t *testing.T, c Config) {
			if c.LogFormat != "json" {
				t.Errorf("LogFormat = %q, want json", c.LogFormat)
			}
		}},
		{name: "log_format_text", env: base("LOG_FORMAT", "Text"), check: func(t *testing.T, c Config) {
			if c.LogFormat != "text" {
				t.Errorf("LogFormat = %q, want text", c.LogFormat)
			}
		}},
		{name: "log_format_bad", env: base("LOG_FORMAT", "logfmt"), wantErr: []string{"LOG_FORMAT"}},
		{name: "tls_files", env: base("TLS_CERT_FILE", certFile, "TLS_KEY_FILE", keyFile), check: func(t *testing.T, c Config) {
			if c.TLSCertFile != certFile || c.TLSKeyFile != keyFile {
				t.Errorf("TLS files = %q, %q", c.TLSCertFile, c.TLSKeyFile)
			}
		}},
		{name: "tls_cert_without_key", env: base("TLS_CERT_FILE", certFile), wantErr: []string{"TLS_KEY_FILE"}},
		{name: "tls_key_without_cert", env: base("TLS_KEY_FILE", keyFile), wantErr: []string{"TLS_CERT_FILE"}},
		{name: "tls_missing_file", env: base("TLS_CERT_FILE", certFile+".missing", "TLS_KEY_FILE", keyFile), wantErr: []string{"TLS_CERT_FILE"}},
		{name: "tls_bad_file", env: base("TLS_CERT_FILE", keyFile, "TLS_KEY_FILE", keyFile), wantErr: []string{"TLS_CERT_FILE"}},
		{name: "tls_bad_key", env: base("TLS_CERT_FILE", certFile, "TLS_KEY_FILE", certFile), wantErr: []string{"TLS_KEY_FILE"}},
		{name: "tls_in_dev", env: map[string]string{"TLS_CERT_FILE": certFile, "TLS_KEY_FILE": keyFile}, dev: true, wantErr: []string{"TLS_CERT_FILE"}},
		{name: "ops_errors_with_others", env: map[string]string{"SHUTDOWN_DELAY": "x", "LOG_FORMAT": "x", "TLS_KEY_FILE": keyFile}, wantErr: []string{"SHUTDOWN_DELAY", "LOG_FORMAT", "TLS_CERT_FILE", "AUTH_ISSUER", "AUTH_AUDIENCE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			c, err := loadConfig(envFunc(tt.env), tt.dev)
			checkConfigErrors(t, err, tt.wantErr)
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}
