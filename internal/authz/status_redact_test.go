package authz_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/policygate/policygate/internal/authz"
	"github.com/policygate/policygate/internal/authz/authztest"
	"github.com/policygate/policygate/internal/testfile"
)

// lockedBuffer is a log destination OPA's goroutines and the test share.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A failed bundle download is logged, by the engine and by OPA itself,
// with the bundle's URL but not the credentials its query carries.
func TestBundleFailureLogRedactsURL(t *testing.T) {
	config := []byte(`{
		"services": {"cdn": {"url": "http://127.0.0.1:1"}},
		"bundles": {"authz": {"service": "cdn", "resource": "bundles/authz.tar.gz?sig=S3CRET-SIG&token=T0KEN", "trigger": "manual"}}
	}`)
	var logs lockedBuffer
	e, err := authz.New(context.Background(), authz.Config{OPAConfig: config, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Stop(context.Background()) })
	if err := e.Reload(context.Background()); err == nil {
		t.Fatal("Reload() from an unreachable server = nil error")
	}
	out := logs.String()
	t.Logf("logs:\n%s", out)
	if strings.Contains(out, "S3CRET-SIG") || strings.Contains(out, "T0KEN") {
		t.Errorf("the log holds the bundle URL's credentials:\n%s", out)
	}
	if !strings.Contains(out, "policy not activated") || !strings.Contains(out, "/bundles/authz.tar.gz?***") {
		t.Errorf("the log lacks the failure with the redacted URL:\n%s", out)
	}
	// Nothing was ever active: no active policy keeps serving.
	if strings.Contains(out, "the active policy keeps serving") || !strings.Contains(out, "no policy is active yet") {
		t.Errorf("the first failure should say no policy is active yet:\n%s", out)
	}
}

// A bundle built without a revision is active all the same: a refused
// update after it says the active policy keeps serving.
func TestRefusedUpdateAfterBundleWithoutRevision(t *testing.T) {
	srv, key := newBundleServer(t), authztest.NewSigningKey(t)
	e, logs := fleetEngineWithLogs(t, srv, key)
	dir := testfile.Dir(t, map[string]string{"authz/authz.rego": mustRead(t, "../../policies/authz/authz.rego"), "authz/data.json": scopedRoutes("read:messages")})
	srv.publish(authztest.Build(t, dir, authztest.Options{Key: key}))
	if err := e.Reload(context.Background()); err != nil {
		t.Fatalf("Reload() of a bundle without a revision = %v", err)
	}
	awaitPolicy(t, e)
	srv.publish(brokenBundle(t, key))
	if err := e.Reload(context.Background()); err == nil {
		t.Fatal("Reload() of a broken bundle = nil error")
	}
	if out := logs.String(); !strings.Contains(out, "the active policy keeps serving") || strings.Contains(out, "no policy is active yet") {
		t.Errorf("log = %s\nwant the refusal to say the active policy keeps serving", out)
	}
}

// fleetEngineWithLogs starts an engine on srv's signed bundles (manual
// triggers) whose log the test reads.
func fleetEngineWithLogs(t *testing.T, srv *bundleServer, key *authztest.SigningKey) (*authz.Engine, *lockedBuffer) {
	t.Helper()
	logs := &lockedBuffer{}
	e, err := authz.New(context.Background(), authz.Config{OPAConfig: fleetConfig(t, srv.URL, key), Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Stop(context.Background()) })
	return e, logs
}
