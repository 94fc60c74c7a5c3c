package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/policygate/policygate/bench/internal/idp"
	"github.com/policygate/policygate/bench/internal/proc"
	"github.com/policygate/policygate/bench/internal/wrk"
)

// target is one server under test.
type target struct {
	*proc.Server
	base      string // http://127.0.0.1:PORT
	readyPath string
}

// startTargets starts policygate and the baselines from the binaries in
// work and waits until each is ready. The targets it started are returned
// even with an error, for the caller to stop.
func startTargets(ctx context.Context, o options, work, repo string, provider *idp.Provider, pprofAddr string) (map[string]*target, error) {
	targets := map[string]*target{}
	for _, name := range targetNames {
		addr, err := proc.FreeAddr()
		if err != nil {
			return targets, err
		}
		t := &target{base: "http://" + addr, readyPath: "/api/public"}
		bin := filepath.Join(work, name)
		var cmd *exec.Cmd
		switch name {
		case "policygate":
			t.readyPath = "/readyz"
			cmd = exec.Command(bin)
			cmd.Env = []string{
				"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
				"AUTH_ISSUER=" + provider.Issuer, "AUTH_AUDIENCE=" + idp.Audience, "AUTH_JWKS_URL=" + provider.JWKSURL(),
				"LISTEN_ADDR=" + addr, "LOG_LEVEL=" + o.logLevel, "POLICY_DIR=" + filepath.Join(repo, "policies"),
			}
			if pprofAddr != "" {
				cmd.Env = append(cmd.Env, "BENCH_PPROF_ADDR="+pprofAddr)
			}
		case "auth0":
			cmd = exec.Command(bin, "-addr", addr, "-issuer", provider.Issuer, "-audience", idp.Audience, "-jwks-url", provider.JWKSURL())
		case "bare-chi":
			cmd = exec.Command(bin, "-addr", addr)
		}
		if t.Server, err = proc.Start(name, work, cmd); err != nil { // no .env in work
			return targets, err
		}
		targets[name] = t
	}
	for _, name := range targetNames {
		t := targets[name]
		ready := func(ctx context.Context) error {
			status, _, err := get(ctx, t.base+t.readyPath, "")
			if err == nil && status != http.StatusOK {
				err = fmt.Errorf("status %d", status)
			}
			return err
		}
		if err := t.WaitReady(ctx, 60*time.Second, ready); err != nil {
			return targets, fmt.Errorf("%w (log: %s)", err, t.Log)
		}
	}
	return targets, nil
}

// load drives t with wrk for d; offset is where the walk through the
// token list starts.
func (t *target) load(ctx context.Context, o options, script, tokens string, offset int, d time.Duration) (wrk.Result, error) {
	return wrk.Run{
		Name: t.Name, PID: t.PID(), URL: t.base + o.route, Script: script,
		Args:    []string{tokens, strconv.Itoa(offset), strconv.Itoa(o.threads)},
		Threads: o.threads, Connections: o.connections, Duration: d,
	}.Do(ctx)
}

// sanityCheck proves every target serves the route with a valid token and
// that the two real ones refuse (4xx) a missing token and a missing scope.
// Auth0's middleware answers a missing token with 400, policygate with 401.
func sanityCheck(ctx context.Context, targets map[string]*target, route, token, unscoped string) error {
	for _, name := range targetNames {
		t := targets[name]
		tokens := []string{token}
		if name != "bare-chi" {
			tokens = append(tokens, "", unscoped)
		}
		for i, tok := range tokens {
			status, body, err := get(ctx, t.base+route, tok)
			if err != nil {
				return fmt.Errorf("sanity check %s: %w", name, err)
			}
			if ok := status == http.StatusOK; ok != (i == 0) || (!ok && status/100 != 4) {
				return fmt.Errorf("sanity check %s %s (case %d) = %d %s", name, route, i, status, body)
			}
		}
	}
	return nil
}

var client = &http.Client{Timeout: 5 * time.Second}

func get(ctx context.Context, url, token string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), nil
}

// goroutines reads go_goroutines from policygate's /metrics.
func goroutines(ctx context.Context, base string) (int, error) {
	_, body, err := get(ctx, base+"/metrics", "")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(body) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "go_goroutines "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return int(f), err
		}
	}
	return 0, errors.New("no go_goroutines in /metrics")
}
