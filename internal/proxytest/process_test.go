package proxytest

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// A process that misses the first SIGTERM (as a single-process nginx does
// when the signal lands just before it blocks) still stops, on a repeat,
// when the runner asked for repeats (RunNginx does).
func TestStopRepeatsSIGTERM(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skipf("no sh: %v", err)
	}
	script := `trap 'trap - TERM' TERM; echo ready; i=0; while [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done`
	p := Start(t, exec.Command(sh, "-c", script))
	p.repeatTerm = true
	if !p.Until(t, 10*time.Second, func() bool { return strings.Contains(p.Output(), "ready") }) {
		t.Fatalf("the script did not start: %q", p.Output())
	}
	p.stop(t)
	select {
	case err := <-p.exited:
		p.exited <- err
	default:
		t.Fatal("stop returned before the process exited")
	}
}
