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
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/policygate/policygate/bench/internal/build"
	"github.com/policygate/policygate/bench/internal/cli"
	"github.com/policygate/policygate/bench/internal/idp"
	"github.com/policygate/policygate/bench/internal/proc"
	"github.com/policygate/policygate/bench/internal/rounds"
	"github.com/policygate/policygate/bench/internal/wrk"
)

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

	// Bounded: everything the flags ask for, plus builds and token minting.
	budget := time.Duration(o.rounds)*6*(o.duration+o.warmup+5*time.Second) + 10*time.Minute
	cli.Main("compare", budget, func(ctx context.Context, out io.Writer) error { return run(ctx, o, out) })
}

var targetNames = []string{"policygate", "auth0", "bare-chi"}

func run(ctx context.Context, o options, out io.Writer) error {
	if !wrk.Installed() {
		return errors.New("wrk not found: apt-get install -y wrk (or run bench/run.sh, which installs it)")
	}
	repo, err := build.Repo(o.repo)
	if err != nil {
		return err
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
	builds := []build.Binary{
		{Dir: repo, Pkg: "./cmd/server", Out: filepath.Join(work, "policygate")},
		{Dir: bench, Pkg: "./cmd/auth0", Out: filepath.Join(work, "auth0")},
		{Dir: bench, Pkg: "./cmd/bare", Out: filepath.Join(work, "bare-chi")},
	}
	pprofAddr := ""
	if o.profileDir != "" {
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return err
		}
		if pprofAddr, err = proc.FreeAddr(); err != nil {
			return err
		}
	}
	if pprofAddr != "" {
		overlay, err := pprofOverlay(work, filepath.Join(repo, "cmd", "server"))
		if err != nil {
			return err
		}
		builds[0].Flags = []string{"-overlay", overlay}
	}
	if err := build.Run(ctx, builds...); err != nil {
		return err
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
	script, err := wrk.WriteScript(work)
	if err != nil {
		return err
	}

	targets, err := startTargets(ctx, o, work, repo, provider, pprofAddr)
	defer func() {
		for _, t := range targets {
			t.Stop()
		}
	}()
	if err != nil {
		return err
	}
	if err := sanityCheck(ctx, targets, o.route, replayed[0], unscoped); err != nil {
		return err
	}

	pg := targets["policygate"]
	goroutinesBefore, err := goroutines(ctx, pg.base)
	if err != nil {
		return err
	}
	rss := startRSSSampler(pg.PID())

	scenarios := []string{"distinct", "replayed"}
	results := map[string]map[string][]wrk.Result{}
	noisy := 0
	offsets := map[string]int{} // where each target's walk through the distinct list goes on
	for round := range o.rounds {
		for _, sc := range scenarios {
			if results[sc] == nil {
				results[sc] = map[string][]wrk.Result{}
			}
			// Rotate so no target always runs first (or right after another).
			for _, name := range rounds.Rotate(targetNames, round) {
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
				offsets[name] = (offsets[name] + r.Requests/o.threads) % o.tokens
				results[sc][name] = append(results[sc][name], r)
				fmt.Fprintf(out, "round %d %-8s %-10s %8.0f req/s  p50 %6.2f ms  p99 %7.2f ms  %s\n",
					round+1, sc, name, r.RPS(), float64(r.P50US)/1000, float64(r.P99US)/1000, r.CPULine())
				if r.OtherCPU > 0.1*r.Seconds() {
					noisy++
				}
			}
		}
	}
	peak := rss.stop()
	hwm := vmHWM(pg.PID())
	// Let the server notice the closed connections before counting.
	time.Sleep(2 * time.Second)
	goroutinesAfter, err := goroutines(ctx, pg.base)
	if err != nil {
		return err
	}
	for _, name := range targetNames {
		if err := targets[name].Alive(); err != nil {
			return err
		}
	}

	report(out, o, results, memory{maxRSS: peak.rss, hwm: hwm, anon: peak.anon, file: peak.file, before: goroutinesBefore, after: goroutinesAfter})
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
