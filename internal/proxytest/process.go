package proxytest

import (
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/policygate/policygate/internal/testwait"
)

// Bounds of a process's life: a proxy that does not listen or does not
// stop within them is broken, not slow.
const (
	listenWithin = 20 * time.Second
	stopWithin   = 15 * time.Second
	// resignalEvery repeats SIGTERM for a process that missed the first.
	resignalEvery = time.Second
)

// Process is a program started by Start; it is stopped when the test ends.
type Process struct {
	name   string
	cmd    *exec.Cmd
	exited chan error
	out    lockedBuffer
	// repeatTerm repeats SIGTERM until the process exits (see stop); off
	// by default, so a program that hangs in its graceful shutdown (a
	// second signal makes policygate exit at once) still fails the test.
	repeatTerm bool
}

// Start starts cmd and stops it (SIGTERM, then a kill and a test error
// after a bounded wait) when the test ends. The process's stderr, and its
// stdout unless cmd already has a Stdout, are kept for Output; a Stderr
// the caller set still receives everything.
func Start(t testing.TB, cmd *exec.Cmd) *Process {
	t.Helper()
	p := &Process{name: filepath.Base(cmd.Path), cmd: cmd, exited: make(chan error, 1)}
	if cmd.Stdout == nil {
		cmd.Stdout = &p.out
	}
	if cmd.Stderr == nil {
		cmd.Stderr = &p.out
	} else {
		cmd.Stderr = io.MultiWriter(cmd.Stderr, &p.out)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.name, err)
	}
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop sends SIGTERM and waits, within stopWithin. With repeatTerm it
// sends it again every resignalEvery: nginx with master_process off checks
// its signal flags only between event waits, so a signal that lands just
// before it blocks in epoll_wait with no timer pending is noticed only at
// the next event, which may never come once the test's clients are gone.
func (p *Process) stop(t testing.TB) {
	deadline := time.After(stopWithin)
	tick := time.NewTicker(resignalEvery)
	defer tick.Stop()
	p.cmd.Process.Signal(syscall.SIGTERM)
	for {
		select {
		case err := <-p.exited:
			p.exited <- err // a second stop returns at once
			return
		case <-tick.C:
			if p.repeatTerm {
				p.cmd.Process.Signal(syscall.SIGTERM)
			}
		case <-deadline:
			p.cmd.Process.Kill()
			p.exited <- <-p.exited
			t.Errorf("%s did not stop on SIGTERM within %s:\n%s", p.name, stopWithin, p.Output())
			return
		}
	}
}

// Output is what the process wrote to stderr (and to stdout, unless the
// caller took it) so far.
func (p *Process) Output() string { return p.out.String() }

// Until polls cond as testwait.Until does, but fails the test at once,
// with the process's output, when the process exits meanwhile.
func (p *Process) Until(t testing.TB, within time.Duration, cond func() bool) bool {
	t.Helper()
	return testwait.Until(within, func() bool {
		if cond() {
			return true
		}
		select {
		case err := <-p.exited:
			p.exited <- err // for stop
			t.Fatalf("%s exited: %v\n%s", p.name, err, p.Output())
		default:
		}
		return false
	})
}

// Listening waits until addr accepts connections, failing the test with
// the process's output when it does not within a bound or exits first.
func (p *Process) Listening(t testing.TB, addr string) {
	t.Helper()
	if !p.Until(t, listenWithin, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}) {
		t.Fatalf("%s does not listen on %s within %s:\n%s", p.name, addr, listenWithin, p.Output())
	}
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(b)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
