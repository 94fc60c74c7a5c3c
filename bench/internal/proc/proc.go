package proc

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Server is one started process under test.
type Server struct {
	Name string
	Cmd  *exec.Cmd
	Log  string // the file holding its stdout and stderr

	done    chan struct{} // closed when the process has exited
	exitErr error         // set before done closes
}

// Start runs cmd in dir (a folder with no .env) with its output in
// dir/NAME.log.
func Start(name, dir string, cmd *exec.Cmd) (*Server, error) {
	cmd.Dir = dir
	log := filepath.Join(dir, name+".log")
	logFile, err := os.Create(log)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	s := &Server{Name: name, Cmd: cmd, Log: log, done: make(chan struct{})}
	go func() {
		s.exitErr = cmd.Wait()
		logFile.Close()
		close(s.done)
	}()
	return s, nil
}

// PID is the process's id.
func (s *Server) PID() int { return s.Cmd.Process.Pid }

// Exited reports whether the process has exited, and how.
func (s *Server) Exited() (bool, error) {
	select {
	case <-s.done:
		return true, s.exitErr
	default:
		return false, nil
	}
}

// Alive reports an error when the process has exited.
func (s *Server) Alive() error {
	if exited, err := s.Exited(); exited {
		return fmt.Errorf("%s exited during the run: %v", s.Name, err)
	}
	return nil
}

// WaitReady calls ready every 100 ms until it returns nil, the process
// exits, ctx ends or limit passes.
func (s *Server) WaitReady(ctx context.Context, limit time.Duration, ready func(context.Context) error) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if exited, err := s.Exited(); exited {
			return fmt.Errorf("%s exited at start: %v", s.Name, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if ready(ctx) == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %s", s.Name, limit)
}

// Stop sends SIGTERM and waits for the exit, killing the process after
// 10 seconds.
func (s *Server) Stop() {
	if s.Cmd.Process == nil {
		return
	}
	s.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.Cmd.Process.Kill()
		<-s.done
	}
}

// FreeAddr is a loopback address (127.0.0.1:PORT) nothing listens on now.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
