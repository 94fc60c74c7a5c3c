package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/policygate/policygate/bench/internal/proc"
)

// server is one process under test.
type server struct {
	*proc.Server
	base     string // http://127.0.0.1:PORT
	readyURL string
}

// start runs cmd with its output in work/NAME.log.
func start(name, base, readyURL, work string, cmd *exec.Cmd) (*server, error) {
	p, err := proc.Start(name, work, cmd) // no .env in work
	if err != nil {
		return nil, err
	}
	return &server{Server: p, base: base, readyURL: readyURL}, nil
}

func (s *server) waitReady(ctx context.Context, limit time.Duration) error {
	return s.WaitReady(ctx, limit, func(ctx context.Context) error {
		status, _, err := get(ctx, s.readyURL, nil)
		if err == nil && status != http.StatusOK {
			err = fmt.Errorf("status %d", status)
		}
		return err
	})
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
