package extauthz_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/extauthz"
)

func TestHealth(t *testing.T) {
	s := newStack(t, authn.KeySetConfig{})
	var ready atomic.Bool
	l, addr := serve(t, extauthz.Config{Gate: s.gate, Renderer: s.render, Ready: func() error {
		if !ready.Load() {
			return errors.New("policy not loaded")
		}
		return nil
	}})
	client := healthpb.NewHealthClient(dial(t, addr, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	check := func(t *testing.T, service string, want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		if err != nil || resp.GetStatus() != want {
			t.Fatalf("Check(%q) = %v, %v; want %v", service, resp.GetStatus(), err, want)
		}
	}
	watch, err := client.Watch(ctx, &healthpb.HealthCheckRequest{Service: authv3.Authorization_ServiceDesc.ServiceName})
	if err != nil {
		t.Fatal(err)
	}
	next := func(t *testing.T, want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		resp, err := watch.Recv()
		if err != nil || resp.GetStatus() != want {
			t.Fatalf("Watch() = %v, %v; want %v", resp.GetStatus(), err, want)
		}
	}

	t.Run("before_ready", func(t *testing.T) {
		check(t, "", healthpb.HealthCheckResponse_NOT_SERVING)
		check(t, authv3.Authorization_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_NOT_SERVING)
		next(t, healthpb.HealthCheckResponse_NOT_SERVING)
	})
	ready.Store(true)
	t.Run("after_ready", func(t *testing.T) {
		check(t, "", healthpb.HealthCheckResponse_SERVING)
		check(t, authv3.Authorization_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
		next(t, healthpb.HealthCheckResponse_SERVING)
		list, err := client.List(ctx, &healthpb.HealthListRequest{})
		if err != nil || len(list.GetStatuses()) != 2 || list.GetStatuses()[""].GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("List() = %v, %v; want both services SERVING", list, err)
		}
	})
	t.Run("unknown_service", func(t *testing.T) {
		_, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: "other.Service"})
		if status.Code(err) != codes.NotFound {
			t.Fatalf("Check(other.Service) error = %v, want NotFound", err)
		}
	})
	ready.Store(false)
	t.Run("not_ready_again", func(t *testing.T) {
		check(t, "", healthpb.HealthCheckResponse_NOT_SERVING)
		next(t, healthpb.HealthCheckResponse_NOT_SERVING)
	})
	ready.Store(true)
	t.Run("shutdown_ends_watch", func(t *testing.T) {
		next(t, healthpb.HealthCheckResponse_SERVING)
		stopped := make(chan error, 1)
		go func() { stopped <- l.Shutdown(ctx) }()
		next(t, healthpb.HealthCheckResponse_NOT_SERVING)
		if err := <-stopped; err != nil {
			t.Fatalf("Shutdown() = %v, want a graceful stop with a Watch open", err)
		}
	})
}

// TestCheckConcurrent runs allows and denials side by side (run it with
// -race): every answer must be the one its request gets alone.
func TestCheckConcurrent(t *testing.T) {
	s, client := startCheck(t, authn.KeySetConfig{}, 0)
	p := s.provider
	tokens := []string{p.Token(t, map[string]any{"scope": "read:messages"}), p.Token(t, map[string]any{"sub": "bob"}), "garbage"}
	want := []int{200, 403, 401}
	const workers, perWorker = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				k := (w + i) % len(tokens)
				resp, err := client.Check(context.Background(), checkRequest("GET", "api.example.com", "/api/private-scoped", auth("Bearer "+tokens[k])))
				if err != nil {
					errs <- err
					return
				}
				got := 200
				if d := resp.GetDeniedResponse(); d != nil {
					got = int(d.GetStatus().GetCode())
				}
				if got != want[k] {
					errs <- fmt.Errorf("token %d: status %d, want %d", k, got, want[k])
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
