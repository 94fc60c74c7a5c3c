package main

import (
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/policygate/policygate/internal/authn/authntest"
)

// TestRunShutdownDelay: at the first signal /readyz answers 503 while the
// listener keeps serving for SHUTDOWN_DELAY, so a load balancer sees the
// 503 before connections are refused; then run shuts down cleanly.
func TestRunShutdownDelay(t *testing.T) {
	p := authntest.NewProvider(t)
	t.Chdir(t.TempDir())
	s := startServer(t, nil, map[string]string{
		"LISTEN_ADDR": "127.0.0.1:0", "AUTH_ISSUER": p.Issuer, "AUTH_AUDIENCE": authntest.Audience,
		// Long enough for the checks below on a loaded machine; the test
		// waits for it once.
		"SHUTDOWN_DELAY": "8s",
	})
	token := p.Token(t, map[string]any{"scope": "read:messages"})
	s.cancel() // the first SIGTERM

	eventually(t, "/readyz answers 503 after the signal", func() bool {
		code, _ := readyz(t, s)
		return code == http.StatusServiceUnavailable
	})
	for _, route := range []string{"/api/public", "/api/private-scoped"} {
		if got, body := get(t, s.url+route, token); got != http.StatusOK {
			t.Errorf("GET %s during the delay = %d %v, want 200 (still serving)", route, got, body)
		}
	}
	select {
	case err := <-s.done:
		s.done <- err // for the cleanup
		if err != nil {
			t.Fatalf("run() = %v, want nil after a graceful shutdown", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return after the delay")
	}
	if resp, err := http.Get(s.url + "/healthz"); err == nil {
		resp.Body.Close()
		t.Errorf("GET /healthz after shutdown = %d, want the connection refused", resp.StatusCode)
	}
}

// TestSecondSignalExitsAtOnce runs the built binary: a first SIGTERM starts
// a long SHUTDOWN_DELAY (not ready, still serving), a second one ends the
// process at once with a non-zero status.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	bin := buildServer(t)
	stderr := &syncBuffer{}
	cmd := exec.Command(bin, "--dev")
	cmd.Env = append(os.Environ(), "LISTEN_ADDR=127.0.0.1:0", "SHUTDOWN_DELAY=5m")
	cmd.Dir, cmd.Stderr = t.TempDir(), stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
	}()
	s := &server{stderr: stderr}
	eventually(t, "the binary listens", func() bool {
		m := listeningRE.FindStringSubmatch(stderr.String())
		if m != nil {
			s.url = "http://" + m[1]
		}
		return m != nil
	})
	eventually(t, "the binary is ready", func() bool { code, _ := readyz(t, s); return code == 200 })

	cmd.Process.Signal(syscall.SIGTERM)
	eventually(t, "/readyz answers 503 after the first signal", func() bool {
		code, _ := readyz(t, s)
		return code == http.StatusServiceUnavailable
	})
	if got, _ := get(t, s.url+"/api/public", ""); got != http.StatusOK {
		t.Errorf("GET /api/public during the delay = %d, want 200", got)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		exited <- err
		if err == nil || cmd.ProcessState.ExitCode() == 0 {
			t.Errorf("exit after the second signal = %v, want a non-zero status", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("the process still runs after a second SIGTERM:\n%s", stderr.String())
	}
}
