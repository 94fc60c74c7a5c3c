// Command compare is policygate's load comparison. It builds policygate
// (the product, from the repository this module lives in) and two
// baselines, Auth0's Go middleware and a bare chi handler, starts all three
// on 127.0.0.1 against one local identity provider, and drives them in
// turn with the same load generator (wrk) in two token scenarios:
//
//	distinct  each request carries a different valid token (a list longer
//	          than any cache, walked in order): cold token caches
//	replayed  a fixed set of clients, each reusing its token
//
// It prints ratios (throughput and p99 against Auth0's middleware and the
// bare handler), policygate's RSS during the run and its goroutines before
// and after. Ratios, not absolute times, are the result: the generator
// shares the machine's cores with the server under test.
//
//	cd bench && go run ./cmd/compare [-duration 5s] [-rounds 1]
package main

import (
	"bufio"
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/policygate/policygate/bench/internal/idp"
)

//go:embed tokens.lua
var tokensLua []byte

type options struct {
	duration, warmup time.Duration
	rounds           int
	connections      int
	threads          int
	tokens           int
	clients          int
	route            string
	logLevel         string
	repo             string
	keep             bool
	profileDir       string
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "measured load per scenario, target and round")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured load before each measured run")
	flag.IntVar(&o.rounds, "rounds", 1, "rounds; each runs every scenario and target once, in a rotating order (medians are reported)")
	flag.IntVar(&o.connections, "connections", 32, "wrk connections")
	flag.IntVar(&o.threads, "threads", 2, "wrk threads")
	flag.IntVar(&o.tokens, "tokens", 30_000, "distinct tokens; keep it above twice policygate's token cache (10000)")
	flag.IntVar(&o.clients, "clients", 100, "clients (tokens) in the replayed scenario")
	flag.StringVar(&o.route, "route", "/api/private-scoped", "route under load (needs read:messages)")
	flag.StringVar(&o.logLevel, "log-level", "info", "policygate's LOG_LEVEL (info logs every request, as shipped)")
	flag.StringVar(&o.repo, "repo", "..", "policygate repository root")
	flag.BoolVar(&o.keep, "keep", false, "keep the work folder (binaries, tokens, server logs)")
	flag.StringVar(&o.profileDir, "profile", "", "write a CPU profile of policygate during each measured run (and its binary) to this folder; policygate is then built with net/http/pprof on a loopback port")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// Bounded: everything the flags ask for, plus builds and token minting.
	budget := time.Duration(o.rounds)*6*(o.duration+o.warmup+5*time.Second) + 10*time.Minute
	ctx, cancel := context.WithTimeout(ctx, budget)
	err := run(ctx, o, os.Stdout)
	cancel()
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

// target is one server under test.
type target struct {
	name      string
	base      string // http://127.0.0.1:PORT
	readyPath string
	cmd       *exec.Cmd
	exited    chan error
}

var targetNames = []string{"policygate", "auth0", "bare-chi"}

func run(ctx context.Context, o options, out io.Writer) error {
	if _, err := exec.LookPath("wrk"); err != nil {
		return errors.New("wrk not found: apt-get install -y wrk (or run bench/run.sh, which installs it)")
	}
	repo, err := filepath.Abs(o.repo)
	if err != nil {
		return err
	}
	if b, err := os.ReadFile(filepath.Join(repo, "go.mod")); err != nil || !strings.HasPrefix(string(b), "module github.com/policygate/policygate\n") {
		return fmt.Errorf("-repo %s is not the policygate repository", repo)
	}
	work, err := os.MkdirTemp("", "policygate-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(out, "work folder:", work)
	} else {
		defer os.RemoveAll(work)
	}

	fmt.Fprintln(out, "building policygate and the baselines ...")
	bench, _ := os.Getwd()
	builds := []struct{ dir, pkg, bin string }{
		{repo, "./cmd/server", "policygate"},
		{bench, "./cmd/auth0", "auth0"},
		{bench, "./cmd/bare", "bare-chi"},
	}
	pprofAddr := ""
	if o.profileDir != "" {
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return err
		}
		port, err := freePort()
		if err != nil {
			return err
		}
		pprofAddr = "127.0.0.1:" + strconv.Itoa(port)
	}
	for _, b := range builds {
		args := []string{"build", "-o", filepath.Join(work, b.bin)}
		if b.bin == "policygate" && pprofAddr != "" {
			overlay, err := pprofOverlay(work, filepath.Join(repo, "cmd", "server"))
			if err != nil {
				return err
			}
			args = append(args, "-overlay", overlay)
		}
		cmd := exec.CommandContext(ctx, "go", append(args, b.pkg)...)
		cmd.Dir, cmd.Stdout, cmd.Stderr = b.dir, os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build %s: %w", b.pkg, err)
		}
	}

	provider, err := idp.Start()
	if err != nil {
		return err
	}
	defer provider.Close()
	ttl := max(time.Hour, 3*time.Duration(o.rounds)*6*(o.duration+o.warmup))
	fmt.Fprintf(out, "minting %d distinct and %d replayed tokens (RS256, 2048-bit) ...\n", o.tokens, o.clients)
	mintStart := time.Now()
	distinct, err := provider.MintMany(o.tokens, "bench|distinct", "openid read:messages", ttl)
	if err != nil {
		return err
	}
	replayed, err := provider.MintMany(o.clients, "bench|client", "openid read:messages", ttl)
	if err != nil {
		return err
	}
	unscoped, err := provider.Mint("bench|unscoped", "openid", ttl)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "minted in %s\n", time.Since(mintStart).Round(time.Millisecond))
	files := map[string]string{"distinct": filepath.Join(work, "distinct.txt"), "replayed": filepath.Join(work, "replayed.txt")}
	if err := os.WriteFile(files["distinct"], []byte(strings.Join(distinct, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(files["replayed"], []byte(strings.Join(replayed, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	script := filepath.Join(work, "tokens.lua")
	if err := os.WriteFile(script, tokensLua, 0o600); err != nil {
		return err
	}

	targets := map[string]*target{}
	defer func() {
		for _, t := range targets {
			t.stop()
		}
	}()
	for _, name := range targetNames {
		port, err := freePort()
		if err != nil {
			return err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		t := &target{name: name, base: "http://" + addr, readyPath: "/api/public"}
		bin := filepath.Join(work, name)
		switch name {
		case "policygate":
			t.readyPath = "/readyz"
			t.cmd = exec.Command(bin)
			t.cmd.Env = []string{
				"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
				"AUTH_ISSUER=" + provider.Issuer, "AUTH_AUDIENCE=" + idp.Audience, "AUTH_JWKS_URL=" + provider.JWKSURL(),
				"LISTEN_ADDR=" + addr, "LOG_LEVEL=" + o.logLevel, "POLICY_DIR=" + filepath.Join(repo, "policies"),
			}
			if pprofAddr != "" {
				t.cmd.Env = append(t.cmd.Env, "BENCH_PPROF_ADDR="+pprofAddr)
			}
		case "auth0":
			t.cmd = exec.Command(bin, "-addr", addr, "-issuer", provider.Issuer, "-audience", idp.Audience, "-jwks-url", provider.JWKSURL())
		case "bare-chi":
			t.cmd = exec.Command(bin, "-addr", addr)
		}
		t.cmd.Dir = work // no .env there
		logFile, err := os.Create(filepath.Join(work, name+".log"))
		if err != nil {
			return err
		}
		defer logFile.Close()
		t.cmd.Stdout, t.cmd.Stderr = logFile, logFile
		if err := t.cmd.Start(); err != nil {
			return fmt.Errorf("start %s: %w", name, err)
		}
		t.exited = make(chan error, 1)
		go func() { t.exited <- t.cmd.Wait() }()
		targets[name] = t
	}
	for _, name := range targetNames {
		if err := targets[name].waitReady(ctx, 60*time.Second); err != nil {
			return fmt.Errorf("%w (log: %s)", err, filepath.Join(work, name+".log"))
		}
	}
	if err := sanityCheck(ctx, targets, o.route, replayed[0], unscoped); err != nil {
		return err
	}

	pg := targets["policygate"]
	goroutinesBefore, err := goroutines(ctx, pg.base)
	if err != nil {
		return err
	}
	rss := startRSSSampler(pg.cmd.Process.Pid)

	scenarios := []string{"distinct", "replayed"}
	results := map[string]map[string][]result{}
	noisy := 0
	offsets := map[string]int{} // where each target's walk through the distinct list goes on
	for round := range o.rounds {
		for _, sc := range scenarios {
			if results[sc] == nil {
				results[sc] = map[string][]result{}
			}
			order := slices.Clone(targetNames)
			// Rotate so no target always runs first (or right after another).
			for range round % len(order) {
				order = append(order[1:], order[0])
			}
			for _, name := range order {
				t := targets[name]
				// Warm-up with the replayed tokens, so distinct tokens are
				// first seen by the measured run.
				if _, err := t.load(ctx, o, script, files["replayed"], 0, o.warmup); err != nil {
					return err
				}
				offset := 0
				if sc == "distinct" {
					offset = offsets[name]
				}
				var profile chan error
				if name == "policygate" && pprofAddr != "" {
					file := filepath.Join(o.profileDir, fmt.Sprintf("policygate-%s-round%d.pprof", sc, round+1))
					profile = startProfile(ctx, pprofAddr, file, o.duration)
				}
				r, err := t.load(ctx, o, script, files[sc], offset, o.duration)
				if err != nil {
					return err
				}
				if profile != nil {
					if err := <-profile; err != nil {
						return fmt.Errorf("profile: %w", err)
					}
				}
				offsets[name] = (offsets[name] + r.requests/o.threads) % o.tokens
				results[sc][name] = append(results[sc][name], r)
				secs := float64(r.durationUS) / 1e6
				fmt.Fprintf(out, "round %d %-8s %-10s %8.0f req/s  p50 %6.2f ms  p99 %7.2f ms  cpu: server %3.0f%% wrk %3.0f%% other %3.0f%%\n",
					round+1, sc, name, r.rps(), float64(r.p50us)/1000, float64(r.p99us)/1000,
					100*r.serverCPU/secs, 100*r.wrkCPU/secs, 100*r.otherCPU/secs)
				if r.otherCPU > 0.1*secs {
					noisy++
				}
			}
		}
	}
	maxRSS := rss.stop()
	hwm := vmHWM(pg.cmd.Process.Pid)
	// Let the server notice the closed connections before counting.
	time.Sleep(2 * time.Second)
	goroutinesAfter, err := goroutines(ctx, pg.base)
	if err != nil {
		return err
	}
	for _, name := range targetNames {
		select {
		case err := <-targets[name].exited:
			return fmt.Errorf("%s exited during the run: %v", name, err)
		default:
		}
	}

	report(out, o, results, memory{maxRSS: maxRSS, hwm: hwm, before: goroutinesBefore, after: goroutinesAfter})
	if o.profileDir != "" {
		bin := filepath.Join(o.profileDir, "policygate")
		if b, err := os.ReadFile(filepath.Join(work, "policygate")); err == nil {
			os.WriteFile(bin, b, 0o755)
		}
		fmt.Fprintf(out, "\nCPU profiles of policygate in %s; read one with\n  go tool pprof -top %s %s\n",
			o.profileDir, bin, filepath.Join(o.profileDir, "policygate-replayed-round1.pprof"))
	}
	if noisy > 0 {
		fmt.Fprintf(out, "\nwarning: in %d run(s) other processes used over 10%% of a core (\"other\" above): rerun on a quiet machine or with more -rounds\n", noisy)
	}
	return nil
}

// result is one wrk run.
type result struct {
	requests, durationUS, p50us, p99us int
	errs                               map[string]int
	// CPU seconds during the run: the server, wrk, and everything else on
	// the machine (other work skews a run; it is reported, not hidden).
	serverCPU, wrkCPU, otherCPU float64
}

func (r result) rps() float64 { return float64(r.requests) / (float64(r.durationUS) / 1e6) }

func (t *target) load(ctx context.Context, o options, script, tokens string, offset int, d time.Duration) (result, error) {
	args := []string{
		"-t", strconv.Itoa(o.threads), "-c", strconv.Itoa(o.connections),
		"-d", strconv.Itoa(max(1, int(d.Round(time.Second)/time.Second))) + "s",
		"--timeout", "5s", "-s", script, t.base + o.route,
		"--", tokens, strconv.Itoa(offset), strconv.Itoa(o.threads),
	}
	cmd := exec.CommandContext(ctx, "wrk", args...)
	busy0, server0 := machineBusy(), processCPU(t.cmd.Process.Pid)
	b, err := cmd.CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("wrk %s: %w\n%s", t.name, err, b)
	}
	busy, server := machineBusy()-busy0, processCPU(t.cmd.Process.Pid)-server0
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
			return r, fmt.Errorf("%s: %d of %d responses were not 2xx (errors %v)", t.name, r.errs["status"], r.requests, r.errs)
		}
		if len(r.errs) > 0 {
			fmt.Fprintf(os.Stderr, "warning: %s: socket errors %v\n", t.name, r.errs)
		}
		return r, nil
	}
	return result{}, fmt.Errorf("wrk %s printed no RESULT line:\n%s", t.name, b)
}

func (t *target) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case err := <-t.exited:
			return fmt.Errorf("%s exited at start: %v", t.name, err)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if status, _, err := get(ctx, t.base+t.readyPath, ""); err == nil && status == http.StatusOK {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %s", t.name, limit)
}

func (t *target) stop() {
	if t.cmd.Process == nil {
		return
	}
	t.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-t.exited:
	case <-time.After(10 * time.Second):
		t.cmd.Process.Kill()
		<-t.exited
	}
}

// pprofOverlay adds a file to policygate's main package, for this build
// only, that serves net/http/pprof on BENCH_PPROF_ADDR: the product stays
// free of a profiling endpoint, and the profile is of the real server.
func pprofOverlay(work, serverDir string) (string, error) {
	src := filepath.Join(work, "zz_bench_pprof.go")
	code := `package main

import (
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	addr := os.Getenv("BENCH_PPROF_ADDR")
	if addr == "" {
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		panic(err)
	}
	go http.Serve(ln, nil)
}
`
	if err := os.WriteFile(src, []byte(code), 0o600); err != nil {
		return "", err
	}
	overlay := filepath.Join(work, "overlay.json")
	b := fmt.Sprintf(`{"Replace": {%q: %q}}`, filepath.Join(serverDir, "zz_bench_pprof.go"), src)
	return overlay, os.WriteFile(overlay, []byte(b), 0o600)
}

// startProfile fetches a CPU profile covering most of a measured run.
func startProfile(ctx context.Context, addr, file string, d time.Duration) chan error {
	done := make(chan error, 1)
	secs := max(1, int((d-500*time.Millisecond)/time.Second))
	go func() {
		c := &http.Client{Timeout: d + 30*time.Second}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs), nil)
		if err != nil {
			done <- err
			return
		}
		req.Close = true // leave no connection (nor goroutine) behind in the server
		resp, err := c.Do(req)
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %s", resp.Status)
		}
		if err == nil {
			err = os.WriteFile(file, b, 0o644)
		}
		done <- err
	}()
	return done
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

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
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

// rssSampler records the largest VmRSS of a process, every 100 ms.
type rssSampler struct {
	done chan struct{}
	max  chan int64
}

func startRSSSampler(pid int) *rssSampler {
	s := &rssSampler{done: make(chan struct{}), max: make(chan int64, 1)}
	go func() {
		var peak int64
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			peak = max(peak, procStatusKB(pid, "VmRSS:"))
			select {
			case <-s.done:
				s.max <- peak
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *rssSampler) stop() int64 { close(s.done); return <-s.max }

func vmHWM(pid int) int64 { return procStatusKB(pid, "VmHWM:") }

// procStatusKB reads one "Name: N kB" line of /proc/PID/status.
func procStatusKB(pid int, field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
