package main

import (
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
		{name: "ops_errors_with_others", env: map[string]string{"SHUTDOWN_DELAY": "x"}, wantErr: []string{"SHUTDOWN_DELAY", "AUTH_ISSUER", "AUTH_AUDIENCE"}},
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
