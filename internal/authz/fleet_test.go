package authz_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/policygate/policygate/internal/authz"
	"github.com/policygate/policygate/internal/authz/authztest"
	"github.com/policygate/policygate/internal/testfile"
	"github.com/policygate/policygate/internal/testwait"
)

// bundleServer serves one bundle archive that a test can replace.
type bundleServer struct {
	*httptest.Server
	mu     sync.Mutex
	bundle []byte
}

func newBundleServer(t *testing.T) *bundleServer {
	s := &bundleServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		b := s.bundle
		s.mu.Unlock()
		if b == nil || r.URL.Path != "/bundles/authz.tar.gz" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/gzip")
		w.Write(b)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *bundleServer) publish(b []byte) {
	s.mu.Lock()
	s.bundle = b
	s.mu.Unlock()
}

// fleetConfig is an OPA configuration for signed bundles from url, fetched
// when the test says (trigger: manual).
func fleetConfig(t *testing.T, url string, key *authztest.SigningKey) []byte {
	return fmt.Appendf(nil, `{
		"services": {"cdn": {"url": %q}},
		"keys": {%q: {"algorithm": "RS256", "key": %q}},
		"bundles": {"authz": {
			"service": "cdn", "resource": "bundles/authz.tar.gz", "trigger": "manual",
			"signing": {"keyid": %q}
		}}
	}`, url, authztest.KeyID, key.PublicPEM(t), authztest.KeyID)
}

func TestFleetSignedBundles(t *testing.T) {
	srv := newBundleServer(t)
	key := authztest.NewSigningKey(t)
	e, err := authz.New(context.Background(), authz.Config{OPAConfig: fleetConfig(t, srv.URL, key)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Stop(context.Background()) })
	scoped := authz.Input{Method: "GET", Path: []string{"api", "private-scoped"}, Claims: map[string]any{"sub": "a"}, Scopes: []string{"read:messages"}}

	// Nothing published: not ready, every decision refused as not ready.
	if err := e.Reload(context.Background()); err == nil {
		t.Error("Reload() with no bundle on the server = nil error")
	}
	if _, err := e.Decide(context.Background(), scoped); !errors.Is(err, authz.ErrNotReady) {
		t.Fatalf("Decide() before the first bundle = %v, want ErrNotReady", err)
	}

	dir := testfile.Dir(t, map[string]string{"authz/authz.rego": mustRead(t, "../../policies/authz/authz.rego"), "authz/data.json": scopedRoutes("read:messages")})
	srv.publish(authztest.Build(t, dir, authztest.Options{Revision: "v1", Key: key}))
	if err := e.Reload(context.Background()); err != nil {
		t.Fatalf("Reload() of signed v1 = %v", err)
	}
	awaitPolicy(t, e)
	if d, err := e.Decide(context.Background(), scoped); err != nil || !d.Allowed || e.Revision() != "v1" {
		t.Fatalf("v1: Decide() = %+v, %v at revision %q; want allowed at v1", d, err, e.Revision())
	}

	testfile.Write(t, filepath.Join(dir, "authz/data.json"), scopedRoutes("write:messages"))
	refused := []struct {
		name    string
		bundle  []byte
		wantErr string
	}{
		{"unsigned", authztest.Build(t, dir, authztest.Options{Revision: "v2-unsigned"}), ".signatures.json"},
		{"signed_by_another_key", authztest.Build(t, dir, authztest.Options{Revision: "v2-other", Key: authztest.NewSigningKey(t)}), "verification"},
		{"tampered_after_signing", authztest.Build(t, dir, authztest.Options{Revision: "v2-tampered", Key: key, Tamper: func(data map[string]any) {
			routes := data["authz"].(map[string]any)["routes"].(map[string]any)
			routes["/api/admin"] = map[string]any{"GET": map[string]any{"access": "public"}}
		}}), "digest"},
		// A file over the default size limit is refused while it is
		// read, before the signature check, so it never takes its
		// decompressed size in memory (33 MiB here, a few KiB gzipped).
		{"file_over_the_default_size_limit", authztest.Build(t, dir, authztest.Options{Revision: "v2-large", Key: key, Tamper: func(data map[string]any) {
			data["authz"].(map[string]any)["pad"] = strings.Repeat("a", 33<<20)
		}}), "exceeds configured size_limit_bytes (33554432 bytes)"},
		{"does_not_compile", brokenBundle(t, key), "rego_parse_error"},
		{"helper_defined_twice", collidingBundle(t, key), "rule data.authz._any_of is defined in authz/authz/authz.rego and in authz/authz/custom.rego"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			srv.publish(tt.bundle)
			err := e.Reload(context.Background())
			t.Logf("Reload() = %v", err)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Reload() = %v, want an error containing %q", err, tt.wantErr)
			}
			s := e.Status()
			if s.Revision != "v1" || !strings.Contains(s.LastError, tt.wantErr) {
				t.Errorf("Status() = %+v, want v1 kept and the error reported", s)
			}
			if d, err := e.Decide(context.Background(), scoped); err != nil || !d.Allowed {
				t.Errorf("Decide() = %+v, %v; want v1's answer", d, err)
			}
		})
	}

	srv.publish(authztest.Build(t, dir, authztest.Options{Revision: "v2", Key: key}))
	if err := e.Reload(context.Background()); err != nil {
		t.Fatalf("Reload() of signed v2 = %v", err)
	}
	if d, err := e.Decide(context.Background(), scoped); err != nil || d.Allowed || d.Reason != "insufficient_scope" {
		t.Errorf("v2: Decide() = %+v, %v; want insufficient_scope", d, err)
	}
	if s := e.Status(); s.Revision != "v2" || s.LastError != "" || s.Activations != 2 || s.Failures < uint64(len(refused)) {
		t.Errorf("Status() = %+v, want v2, no error, 2 activations, >= %d failures", s, len(refused))
	}

	// A bundle without data.authz.decision compiles and activates (OPA
	// cannot refuse it); it must deny and be reported.
	empty := testfile.Dir(t, map[string]string{"other/other.rego": "package other\n\nx := 1\n"})
	srv.publish(authztest.Build(t, empty, authztest.Options{Revision: "v3-empty", Key: key}))
	if err := e.Reload(context.Background()); err != nil {
		t.Fatalf("Reload() = %v", err)
	}
	if d, err := e.Decide(context.Background(), scoped); err == nil {
		t.Errorf("Decide() without a decision rule = %+v, want an error (deny)", d)
	}
	if s := e.Status(); !strings.Contains(s.LastError, "no data.authz.decision") {
		t.Errorf("Status().LastError = %q, want the missing decision reported", s.LastError)
	}
}

func brokenBundle(t *testing.T, key *authztest.SigningKey) []byte {
	dir := testfile.Dir(t, map[string]string{"authz/authz.rego": "package authz\n\ndecision := {\"allowed\": true}\n"})
	return authztest.Build(t, dir, authztest.Options{Revision: "v2-broken", Key: key, BreakModule: "package authz\n\ndecision := {\n"})
}

// collidingBundle adds a body of its own to the shipped policy's _any_of.
func collidingBundle(t *testing.T, key *authztest.SigningKey) []byte {
	dir := testfile.Dir(t, map[string]string{
		"authz/authz.rego":  mustRead(t, "../../policies/authz/authz.rego"),
		"authz/custom.rego": "package authz\n\n_any_of(value, prefixes) if startswith(value, prefixes[0])\n",
		"authz/data.json":   scopedRoutes("write:messages"),
	})
	return authztest.Build(t, dir, authztest.Options{Revision: "v2-colliding", Key: key})
}

func scopedRoutes(scope string) string {
	return fmt.Sprintf(`{"routes": {"/api/private-scoped": {"GET": {"access": "authenticated", "scopes": [%q]}}}}`, scope)
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// OPA's status metrics (status: {prometheus: true}) land in the registry
// the server exports on /metrics.
func TestFleetStatusMetrics(t *testing.T) {
	srv := newBundleServer(t)
	key := authztest.NewSigningKey(t)
	config := fleetConfig(t, srv.URL, key)
	config = append(config[:len(config)-1], []byte(`, "status": {"prometheus": true}}`)...)
	reg := prometheus.NewRegistry()
	e, err := authz.New(context.Background(), authz.Config{OPAConfig: config, Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Stop(context.Background()) })
	srv.publish(authztest.Build(t, "../../policies", authztest.Options{Revision: "v1", Key: key}))
	if err := e.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The status plugin publishes its gauges when it handles the
	// activation, asynchronously: wait a bounded while for them.
	var names []string
	published := testwait.Until(10*time.Second, func() bool {
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		names = names[:0]
		for _, f := range families {
			names = append(names, f.GetName())
		}
		return slices.Contains(names, "opa_info") && slices.Contains(names, "plugin_status_gauge")
	})
	if !published {
		t.Errorf("registry holds %q after 10s, want OPA's status metrics (opa_info, plugin_status_gauge)", names)
	}
}

// With several bundles configured, the revision names each active one,
// also while only one of them is active.
func TestRevisionNamesBundlesWhenSeveralAreConfigured(t *testing.T) {
	srv := newBundleServer(t)
	key := authztest.NewSigningKey(t)
	config := fmt.Appendf(nil, `{
		"services": {"cdn": {"url": %q}},
		"keys": {%q: {"algorithm": "RS256", "key": %q}},
		"bundles": {
			"authz": {"service": "cdn", "resource": "bundles/authz.tar.gz", "trigger": "manual", "signing": {"keyid": %q}},
			"mask": {"service": "cdn", "resource": "bundles/mask.tar.gz", "trigger": "manual", "signing": {"keyid": %q}}
		}
	}`, srv.URL, authztest.KeyID, key.PublicPEM(t), authztest.KeyID, authztest.KeyID)
	e, err := authz.New(context.Background(), authz.Config{OPAConfig: config})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Stop(context.Background()) })
	dir := testfile.Dir(t, map[string]string{"authz/authz.rego": mustRead(t, "../../policies/authz/authz.rego"), "authz/data.json": scopedRoutes("read:messages")})
	srv.publish(authztest.Build(t, dir, authztest.Options{Revision: "a1", Key: key}))
	e.Reload(context.Background()) // the mask bundle is not served: an error for it
	if !testwait.Until(10*time.Second, func() bool { return e.Revision() != "" }) {
		t.Fatalf("no bundle active within 10s: %+v", e.Status())
	}
	if got := e.Revision(); got != "authz=a1" {
		t.Errorf("Revision() = %q, want authz=a1", got)
	}
}
