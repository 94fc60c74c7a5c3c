package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// load is what one row of an experiment sends: to which server, on which
// path, with which tokens and URIs.
type load struct {
	server    string
	path      string // the request path; with forwarded, the forward-auth endpoint
	forwarded bool   // name the URI in X-Forwarded-Method/-Uri/-Host
	uris      string // file of URIs (forwarded) or request paths
	tokens    string // "distinct" or "replayed"
}

// result is one wrk run.
type result struct {
	requests, durationUS, p50us, p99us int
	errs                               map[string]int
	// CPU seconds during the run: the server, wrk, and everything else on
	// the machine (an upstream, other work: reported, not hidden).
	serverCPU, wrkCPU, otherCPU float64
}

func (r result) rps() float64 { return float64(r.requests) / (float64(r.durationUS) / 1e6) }

func (r result) cpuLine() string {
	secs := float64(r.durationUS) / 1e6
	return fmt.Sprintf("cpu: server %3.0f%% wrk %3.0f%% other %3.0f%%", 100*r.serverCPU/secs, 100*r.wrkCPU/secs, 100*r.otherCPU/secs)
}

// forwardedHost is the X-Forwarded-Host every forwarded request names.
const forwardedHost = "api.example.com"

// run drives s with wrk for d; offset is where the walk through the token
// list starts.
func (l load) run(ctx context.Context, o options, s *server, script string, files map[string]string, offset int, d time.Duration) (result, error) {
	fwd := "0"
	if l.forwarded {
		fwd = "1"
	}
	args := []string{
		"-t", strconv.Itoa(o.threads), "-c", strconv.Itoa(o.connections),
		"-d", strconv.Itoa(max(1, int(d.Round(time.Second)/time.Second))) + "s",
		"--timeout", "5s", "-s", script, s.base + l.path,
		"--", files[l.tokens], strconv.Itoa(offset), strconv.Itoa(o.threads), l.uris, fwd, forwardedHost,
	}
	cmd := exec.CommandContext(ctx, "wrk", args...)
	busy0, server0 := machineBusy(), processCPU(s.cmd.Process.Pid)
	b, err := cmd.CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("wrk %s: %w\n%s", s.name, err, b)
	}
	busy, server := machineBusy()-busy0, processCPU(s.cmd.Process.Pid)-server0
	var wrkCPU float64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		wrkCPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	for line := range strings.Lines(string(b)) {
		fields, ok := strings.CutPrefix(strings.TrimSpace(line), "RESULT ")
		if !ok {
			continue
		}
		r := result{errs: map[string]int{}, serverCPU: server, wrkCPU: wrkCPU, otherCPU: max(0, busy-server-wrkCPU)}
		for kv := range strings.FieldsSeq(fields) {
			k, v, _ := strings.Cut(kv, "=")
			n, _ := strconv.Atoi(v)
			switch k {
			case "requests":
				r.requests = n
			case "duration_us":
				r.durationUS = n
			case "p50_us":
				r.p50us = n
			case "p99_us":
				r.p99us = n
			default:
				if n > 0 {
					r.errs[k] = n
				}
			}
		}
		// A refused request (non-2xx) means the comparison is broken.
		if r.errs["status"] > 0 || r.requests == 0 {
			return r, fmt.Errorf("%s %s: %d of %d responses were not 2xx (errors %v)", s.name, l.path, r.errs["status"], r.requests, r.errs)
		}
		if len(r.errs) > 0 {
			fmt.Fprintf(os.Stderr, "warning: %s: socket errors %v\n", s.name, r.errs)
		}
		return r, nil
	}
	return result{}, fmt.Errorf("wrk %s printed no RESULT line:\n%s", s.name, b)
}
