package wrk

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/policygate/policygate/bench/internal/cpu"
)

// script is the wrk Lua script every run uses; see its header for its
// arguments.
//
//go:embed requests.lua
var script []byte

// WriteScript writes the request script to dir and returns its path.
func WriteScript(dir string) (string, error) {
	p := filepath.Join(dir, "requests.lua")
	if err := os.WriteFile(p, script, 0o600); err != nil {
		return "", fmt.Errorf("write wrk script: %w", err)
	}
	return p, nil
}

// Installed reports whether wrk is on the PATH.
func Installed() bool {
	_, err := exec.LookPath("wrk")
	return err == nil
}

// Run is one wrk invocation.
type Run struct {
	Name        string // the server under test, in errors and warnings
	What        string // what refused requests are reported against; Name when empty
	PID         int    // the server's process, whose CPU time is sampled
	URL         string
	Script      string // from WriteScript
	Args        []string
	Threads     int
	Connections int
	Duration    time.Duration // rounded to whole seconds, at least 1
	Warnings    io.Writer     // socket-error warnings; os.Stderr when nil
}

// Result is one wrk run.
type Result struct {
	Requests, DurationUS, P50US, P99US int
	Errs                               map[string]int
	// CPU seconds during the run: the server, wrk, and everything else on
	// the machine (other work skews a run; it is reported, not hidden).
	ServerCPU, WrkCPU, OtherCPU float64
}

// RPS is the run's requests per second.
func (r Result) RPS() float64 { return float64(r.Requests) / (float64(r.DurationUS) / 1e6) }

// Seconds is the run's measured duration.
func (r Result) Seconds() float64 { return float64(r.DurationUS) / 1e6 }

// CPULine is the run's CPU use as shares of one core.
func (r Result) CPULine() string {
	secs := r.Seconds()
	return fmt.Sprintf("cpu: server %3.0f%% wrk %3.0f%% other %3.0f%%", 100*r.ServerCPU/secs, 100*r.WrkCPU/secs, 100*r.OtherCPU/secs)
}

// Do runs wrk. Any non-2xx answer, or no request at all, is an error: a
// comparison in which a server refuses is broken.
func (w Run) Do(ctx context.Context) (Result, error) {
	args := append([]string{
		"-t", strconv.Itoa(w.Threads), "-c", strconv.Itoa(w.Connections),
		"-d", strconv.Itoa(max(1, int(w.Duration.Round(time.Second)/time.Second))) + "s",
		"--timeout", "5s", "-s", w.Script, w.URL,
		"--",
	}, w.Args...)
	cmd := exec.CommandContext(ctx, "wrk", args...)
	busy0, server0 := cpu.MachineBusy(), cpu.Process(w.PID)
	b, err := cmd.CombinedOutput()
	if err != nil {
		return Result{}, fmt.Errorf("wrk %s: %w\n%s", w.Name, err, b)
	}
	busy, server := cpu.MachineBusy()-busy0, cpu.Process(w.PID)-server0
	var wrkCPU float64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		wrkCPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	r, err := Parse(string(b))
	if err != nil {
		return Result{}, fmt.Errorf("wrk %s printed no RESULT line:\n%s", w.Name, b)
	}
	r.ServerCPU, r.WrkCPU, r.OtherCPU = server, wrkCPU, max(0, busy-server-wrkCPU)
	if r.Errs["status"] > 0 || r.Requests == 0 {
		what := w.What
		if what == "" {
			what = w.Name
		}
		return r, fmt.Errorf("%s: %d of %d responses were not 2xx (errors %v)", what, r.Errs["status"], r.Requests, r.Errs)
	}
	if len(r.Errs) > 0 {
		warn := w.Warnings
		if warn == nil {
			warn = os.Stderr
		}
		fmt.Fprintf(warn, "warning: %s: socket errors %v\n", w.Name, r.Errs)
	}
	return r, nil
}

// ErrNoResult is returned by Parse when wrk's output holds no RESULT line.
var ErrNoResult = errors.New("no RESULT line")

// Parse reads the first RESULT line of the script's output: requests,
// duration_us, p50_us, p99_us and the error counters (only those above
// zero are kept in Errs).
func Parse(out string) (Result, error) {
	for line := range strings.Lines(out) {
		fields, ok := strings.CutPrefix(strings.TrimSpace(line), "RESULT ")
		if !ok {
			continue
		}
		r := Result{Errs: map[string]int{}}
		for kv := range strings.FieldsSeq(fields) {
			k, v, _ := strings.Cut(kv, "=")
			n, _ := strconv.Atoi(v)
			switch k {
			case "requests":
				r.Requests = n
			case "duration_us":
				r.DurationUS = n
			case "p50_us":
				r.P50US = n
			case "p99_us":
				r.P99US = n
			default:
				if n > 0 {
					r.Errs[k] = n
				}
			}
		}
		return r, nil
	}
	return Result{}, ErrNoResult
}
