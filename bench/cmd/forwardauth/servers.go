package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// server is one process under test.
type server struct {
	name     string
	base     string // http://127.0.0.1:PORT
	readyURL string
	cmd      *exec.Cmd
	exited   chan error
}

// start runs cmd with its output in work/NAME.log.
func start(name, base, readyURL, work string, cmd *exec.Cmd) (*server, error) {
	cmd.Dir = work // no .env there
	logFile, err := os.Create(filepath.Join(work, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	s := &server{name: name, base: base, readyURL: readyURL, cmd: cmd, exited: make(chan error, 1)}
	go func() {
		s.exited <- cmd.Wait()
		logFile.Close()
	}()
	return s, nil
}

func (s *server) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case err := <-s.exited:
			return fmt.Errorf("%s exited at start: %v", s.name, err)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if status, _, err := get(ctx, s.readyURL, nil); err == nil && status == http.StatusOK {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %s", s.name, limit)
}

func (s *server) stop() {
	if s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// alive reports an error when the process has exited.
func (s *server) alive() error {
	select {
	case err := <-s.exited:
		return fmt.Errorf("%s exited during the run: %v", s.name, err)
	default:
		return nil
	}
}

// itemsRoute is the pattern route of the ids bench, with the same rule as
// /api/private-scoped.
const itemsRoute = "/api/items/{id}"

// policyCopy copies the repository's policies/ to work/policies (Go files
// left out) and adds itemsRoute to the route table of authz/data.json.
func policyCopy(repo, work string) (string, error) {
	src, dst := filepath.Join(repo, "policies"), filepath.Join(work, "policies")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if strings.HasSuffix(p, ".go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		return "", fmt.Errorf("copy policies: %w", err)
	}
	dataFile := filepath.Join(dst, "authz", "data.json")
	b, err := os.ReadFile(dataFile)
	if err != nil {
		return "", err
	}
	var data map[string]any
	if err := json.Unmarshal(b, &data); err != nil {
		return "", fmt.Errorf("%s: %w", dataFile, err)
	}
	routes, ok := data["routes"].(map[string]any)
	if !ok {
		return "", fmt.Errorf("%s has no routes object", dataFile)
	}
	routes[itemsRoute] = map[string]any{"GET": map[string]any{"access": "authenticated", "scopes": []string{"read:messages"}}}
	if b, err = json.MarshalIndent(data, "", "\t"); err != nil {
		return "", err
	}
	return dst, os.WriteFile(dataFile, b, 0o644)
}

var client = &http.Client{Timeout: 5 * time.Second}

func get(ctx context.Context, url string, header http.Header) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// clockTicks is USER_HZ, the unit of /proc CPU times (100 on Linux).
const clockTicks = 100

// machineBusy is the CPU seconds all cores spent busy since boot.
func machineBusy() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 || i >= 8 { // idle, iowait, guest (already in user)
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return float64(busy) / clockTicks
}

// processCPU is the user+system CPU seconds of a process so far.
func processCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	_, rest, _ := strings.Cut(string(b), ") ") // the name may hold spaces
	f := strings.Fields(rest)                  // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return float64(utime+stime) / clockTicks
}

// loadAverage is the first field of /proc/loadavg.
func loadAverage() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// cacheLookups reads policygate's decision cache lookups (hits, misses)
// from its /metrics; ok is false when the metric is missing.
func cacheLookups(ctx context.Context, base string) (hits, misses float64, ok bool) {
	_, body, err := get(ctx, base+"/metrics", nil)
	if err != nil {
		return 0, 0, false
	}
	const name = "policygate_decision_cache_lookups_total"
	found := 0
	for line := range strings.Lines(body) {
		rest, isMetric := strings.CutPrefix(strings.TrimSpace(line), name+"{")
		if !isMetric {
			continue
		}
		labels, value, _ := strings.Cut(rest, "} ")
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			continue
		}
		switch {
		case strings.Contains(labels, `result="hit"`):
			hits, found = v, found+1
		case strings.Contains(labels, `result="miss"`):
			misses, found = v, found+1
		}
	}
	return hits, misses, found == 2
}
