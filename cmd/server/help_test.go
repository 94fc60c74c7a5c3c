package main

import (
	"context"
	"errors"
	"flag"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// settingsRead returns every variable loadConfig reads, found by running
// it with a getenv that records names, in several configurations so that
// each branch is taken.
func settingsRead(t *testing.T) []string {
	t.Helper()
	var mu sync.Mutex
	seen := map[string]bool{}
	record := func(env map[string]string) func(string) string {
		return func(name string) string {
			mu.Lock()
			seen[name] = true
			mu.Unlock()
			return env[name]
		}
	}
	for _, tc := range []struct {
		env map[string]string
		dev bool
	}{
		{env: nil},
		{env: nil, dev: true},
		{env: map[string]string{"AUTH0_DOMAIN": "tenant.example.com", "AUTH0_AUDIENCE": "https://api", "POLICY_TESTS_MUST_PASS": "true"}},
		{env: map[string]string{"OPA_CONFIG": "/nonexistent.yaml", "TLS_CERT_FILE": "/nonexistent.crt", "TLS_KEY_FILE": "/nonexistent.key"}},
	} {
		loadConfig(record(tc.env), tc.dev)
	}
	names := make([]string, 0, len(seen))
	for name := range seen {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// TestHelpNamesEverySetting: --help and the README's settings table name
// every variable the configuration reads.
func TestHelpNamesEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	names := settingsRead(t)
	for _, want := range []string{"SHUTDOWN_DELAY", "LOG_FORMAT", "TLS_CERT_FILE", "TLS_KEY_FILE", "AUTH_ISSUER"} {
		if !slices.Contains(names, want) {
			t.Fatalf("settingsRead() = %v, lacks %s: the recorder misses settings", names, want)
		}
	}
	var stderr syncBuffer
	if err := run(context.Background(), []string{"--help"}, envFunc(nil), &syncBuffer{}, &stderr); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("run(--help) = %v, want flag.ErrHelp", err)
	}
	for _, name := range names {
		word := regexp.MustCompile(`\b` + name + `\b`)
		if !word.MatchString(stderr.String()) {
			t.Errorf("--help does not name %s:\n%s", name, stderr.String())
		}
		if !strings.Contains(string(readme), "| `"+name+"`") && !strings.Contains(string(readme), ", `"+name+"`") {
			t.Errorf("README's settings table has no row for %s", name)
		}
	}
}
