package proc

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestServerLifecycle(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep command:", err)
	}
	ctx := context.Background()
	s, err := Start("sleeper", t.TempDir(), exec.Command(sleep, "30"))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	calls := 0
	ready := func(context.Context) error {
		if calls++; calls < 2 {
			return errors.New("not yet")
		}
		return nil
	}
	if err := s.WaitReady(ctx, 5*time.Second, ready); err != nil {
		t.Fatalf("WaitReady = %v, want nil", err)
	}
	if err := s.Alive(); err != nil {
		t.Errorf("Alive() = %v, want nil", err)
	}
	s.Stop()
	if err := s.Alive(); err == nil || !strings.Contains(err.Error(), "exited during the run") {
		t.Errorf("Alive() after Stop = %v, want an exit error", err)
	}
	s.Stop() // a second Stop must not hang
}

func TestWaitReadyExitedAtStart(t *testing.T) {
	f, err := exec.LookPath("false")
	if err != nil {
		t.Skip("no false command:", err)
	}
	s, err := Start("quitter", t.TempDir(), exec.Command(f))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	never := func(context.Context) error { return errors.New("never") }
	err = s.WaitReady(context.Background(), 5*time.Second, never)
	if err == nil || !strings.Contains(err.Error(), "exited at start") {
		t.Errorf("WaitReady = %v, want an exited-at-start error", err)
	}
	s.Stop()
}

func TestFreeAddr(t *testing.T) {
	addr, err := FreeAddr()
	if err != nil || !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Errorf("FreeAddr() = %q, %v, want 127.0.0.1:PORT", addr, err)
	}
}
