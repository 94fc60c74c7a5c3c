package extauthz_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/authn/authntest"
)

// TestCheckDeadlines holds the identity provider's answer to a key fetch
// (a token names a key the gate does not have yet) and checks that every
// check stops waiting at its deadline and is denied, that the fetch the
// check started goes on past it, and that later checks use its keys.
func TestCheckDeadlines(t *testing.T) {
	const maxDeadline = 300 * time.Millisecond
	s, client := startCheck(t, authn.KeySetConfig{UnknownKIDInterval: time.Millisecond, FetchTimeout: time.Minute}, maxDeadline)
	p := s.provider
	rotated := authntest.NewKey(t, "key-2")
	token := authntest.Sign(t, rotated, p.Claims())
	req := checkRequest("GET", "api.example.com", "/api/private", auth("Bearer "+token))

	release := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(release) }) }
	t.Cleanup(open)
	p.SetKeys(p.Key(), rotated)
	p.SetHandler(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		p.ServeKeys(w, r)
	})
	before := p.JWKSRequests()

	unavailable := func(t *testing.T, resp *authv3.CheckResponse, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("Check() error = %v, want a 503 denial", err)
		}
		a := read(t, resp)
		if a.code != codes.PermissionDenied || a.status != 503 || !strings.Contains(a.body, `"temporarily_unavailable"`) || a.headers["retry-after"] != "5" {
			t.Fatalf("Check() = %v %d %s retry-after %q, want PERMISSION_DENIED 503 temporarily_unavailable with retry-after", a.code, a.status, a.body, a.headers["retry-after"])
		}
	}
	t.Run("no_deadline_capped", func(t *testing.T) {
		resp, err := client.Check(context.Background(), req)
		unavailable(t, resp, err)
	})
	t.Run("longer_deadline_capped", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		resp, err := client.Check(ctx, req)
		unavailable(t, resp, err)
	})
	t.Run("expired_deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), maxDeadline/3)
		defer cancel()
		resp, err := client.Check(ctx, req)
		if status.Code(err) == codes.DeadlineExceeded {
			return // the denial lost the race with the caller's own clock: still no allow
		}
		unavailable(t, resp, err)
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			time.Sleep(maxDeadline / 10)
			cancel()
		}()
		resp, err := client.Check(ctx, req)
		if status.Code(err) != codes.Canceled {
			t.Fatalf("Check() = %v, %v; want Canceled", resp, err)
		}
	})
	if got := p.JWKSRequests() - before; got != 1 {
		t.Errorf("key set fetched %d times while held, want 1 shared fetch", got)
	}

	// The fetch outlived every check; once the provider answers, the
	// rotated key serves later checks without another fetch.
	open()
	var a answer
	for i := 0; i < 100; i++ {
		resp, err := client.Check(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if a = read(t, resp); a.status == 200 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if a.status != 200 {
		t.Fatalf("after the held fetch finished: %d %s, want the rotated key to allow", a.status, a.body)
	}
	if got := p.JWKSRequests() - before; got != 1 {
		t.Errorf("key set fetched %d times, want the one fetch the first check started", got)
	}
}
