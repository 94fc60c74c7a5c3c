package authz_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/policygate/policygate/internal/authz"
	"github.com/policygate/policygate/internal/authz/authztest"
	"github.com/policygate/policygate/internal/testfile"
	"github.com/policygate/policygate/internal/testwait"
)

// A bundle server that sends headers and then never the body holds OPA's
// download, and every later poll with it: the replica is told, in its
// status (and so /readyz and the log), until a download completes again.
func TestStalledBundleDownloadIsReported(t *testing.T) {
	t.Parallel()
	key := authztest.NewSigningKey(t)
	dir := testfile.Dir(t, map[string]string{"authz/authz.rego": mustRead(t, "../../policies/authz/authz.rego"), "authz/data.json": scopedRoutes("read:messages")})
	bundle := authztest.Build(t, dir, authztest.Options{Revision: "v1", Key: key})
	var requests atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 1 {
			w.Write(bundle)
			return
		}
		w.Header().Set("Content-Type", "application/gzip")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select { // the body never comes
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	config := fmt.Appendf(nil, `{
		"services": {"cdn": {"url": %q}},
		"keys": {%q: {"algorithm": "RS256", "key": %q}},
		"bundles": {"authz": {"service": "cdn", "resource": "b.tar.gz", "signing": {"keyid": %q},
			"polling": {"min_delay_seconds": 1, "max_delay_seconds": 1}}}
	}`, srv.URL, authztest.KeyID, key.PublicPEM(t), authztest.KeyID)
	e, err := authz.New(context.Background(), authz.Config{OPAConfig: config})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Stop(context.Background()) })
	awaitPolicy(t, e)

	// The limit for a 1 s polling interval: 3 intervals and OPA's 10 s
	// response header timeout.
	const stalled = "no download has completed"
	if !testwait.Until(30*time.Second, func() bool { return strings.Contains(e.Status().LastError, stalled) }) {
		t.Fatalf("no stall reported within 30s: %+v", e.Status())
	}
	if e.Revision() != "v1" {
		t.Errorf("Revision() = %q, want v1 still serving", e.Revision())
	}
	// Reported once per stall, not on every check of it.
	failures := e.Status().Failures
	time.Sleep(5 * time.Second) // more than a check's period (a quarter of the limit)
	if got := e.Status().Failures; got != failures {
		t.Errorf("Failures went from %d to %d while one stall lasted", failures, got)
	}

	close(release) // the stuck download ends; polling resumes
	if !testwait.Until(20*time.Second, func() bool { return !strings.Contains(e.Status().LastError, stalled) }) {
		t.Errorf("the stall is still reported after downloads complete again: %+v", e.Status())
	}
}
