// Command grpcload is policygate's gRPC load comparison with the way OPA
// users authorize Envoy traffic today (cmd/opaenvoy: OPA behind
// go-control-plane's Check server, the JWT verified in Rego). It builds
// both, starts them on 127.0.0.1 against one local identity provider,
// and drives them in turn, in interleaved rounds, with go-control-plane's
// generated client in two token scenarios:
//
//	distinct  each check carries a token the target has not seen
//	replayed  a fixed set of clients, each reusing its token
//
// Unlike ghz, it counts allowed and denied answers apart: a run in which
// any check is denied or fails is reported, since every token is valid.
// It prints medians of the rounds and the ratios to the peer. A third
// target, cmd/baregrpc, answers every check OK without looking: the
// transport's own ceiling and latency floor, as bare chi is for HTTP.
//
//	cd bench && go run ./cmd/grpcload [-duration 5s] [-rounds 3]
//
// With -server-cpus the targets run on the CPUs given only, so a client
// pinned apart (taskset -c 0 go run ./cmd/grpcload -server-cpus 1) takes
// none of their time: how an authorizer runs beside Envoy.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/policygate/policygate/bench/internal/build"
	"github.com/policygate/policygate/bench/internal/cli"
	"github.com/policygate/policygate/bench/internal/cpu"
	"github.com/policygate/policygate/bench/internal/idp"
	"github.com/policygate/policygate/bench/internal/rounds"
	"github.com/policygate/policygate/bench/internal/stats"
)

type options struct {
	duration, warmup time.Duration
	rounds, workers  int
	conns            int
	tokens, clients  int
	route, repo      string
	logLevel         string
	jwtCache         bool
	clientGOGC       int
	clientMemLimit   int64
	serverGOGC       string
	serverCPUs       string
	cpuProfile       string
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "measured load per scenario, target and round")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured load (replayed tokens) before each measured run")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; each runs every scenario and target once, in a rotating order (medians are reported)")
	flag.IntVar(&o.workers, "workers", 32, "concurrent checks in flight")
	flag.IntVar(&o.conns, "conns", 4, "gRPC connections the workers share")
	flag.IntVar(&o.tokens, "tokens", 30_000, "distinct tokens; keep it above twice policygate's token cache (10000)")
	flag.IntVar(&o.clients, "clients", 100, "clients (tokens) in the replayed scenario")
	flag.StringVar(&o.route, "route", "/api/private-scoped", "route under load (needs read:messages)")
	flag.StringVar(&o.repo, "repo", "..", "policygate repository root")
	flag.StringVar(&o.logLevel, "log-level", "info", "policygate's LOG_LEVEL")
	flag.BoolVar(&o.jwtCache, "peer-jwt-cache", false, "turn on OPA's io_jwt cache of verified tokens in the peer (off by default in OPA)")
	flag.IntVar(&o.clientGOGC, "client-gogc", -1, "this load client's GOGC during the runs; -1 collects only at -client-memlimit")
	flag.Int64Var(&o.clientMemLimit, "client-memlimit", 2<<30, "this load client's memory limit in bytes during the runs (a collection starts there)")
	flag.StringVar(&o.serverGOGC, "server-gogc", "", "GOGC for both targets (empty: Go's default, as users run them)")
	flag.StringVar(&o.serverCPUs, "server-cpus", "", "run every target on these CPUs only (a taskset list such as 1); pin this client apart with taskset -c 0")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write this load client's CPU profile of the measured runs to this file")
	flag.Parse()

	budget := time.Duration(o.rounds*runsPerRound)*(o.duration+o.warmup+5*time.Second) + 10*time.Minute
	cli.Main("grpcload", budget, func(ctx context.Context, out io.Writer) error { return run(ctx, o, out) })
}

func run(ctx context.Context, o options, out io.Writer) error {
	repo, err := build.Repo(o.repo)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "policygate-grpcload-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	fmt.Fprintln(out, "building policygate and the peer ...")
	bench, _ := os.Getwd()
	if err := build.Run(ctx,
		build.Binary{Dir: repo, Pkg: "./cmd/server", Out: filepath.Join(work, "policygate")},
		build.Binary{Dir: bench, Pkg: "./cmd/opaenvoy", Out: filepath.Join(work, "opa-envoy")},
		build.Binary{Dir: bench, Pkg: "./cmd/baregrpc", Out: filepath.Join(work, "bare-grpc")},
	); err != nil {
		return err
	}
	provider, err := idp.Start()
	if err != nil {
		return err
	}
	defer provider.Close()
	ttl := time.Hour + budgetOf(o)
	fmt.Fprintf(out, "minting %d distinct and %d replayed tokens ...\n", o.tokens, o.clients)
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
	reqs := map[string][]*authv3.CheckRequest{"distinct": requests(o.route, distinct), "replayed": requests(o.route, replayed)}
	codec, err := newPreEncoded(reqs["distinct"], reqs["replayed"])
	if err != nil {
		return err
	}

	targets := map[string]*target{}
	defer func() {
		for _, t := range targets {
			t.stop()
		}
	}()
	for _, name := range targetNames {
		t, err := startTarget(name, work, repo, provider, o, codec)
		if err != nil {
			return err
		}
		targets[name] = t
	}
	for _, name := range targetNames {
		if err := targets[name].waitReady(ctx, 60*time.Second, o.route, replayed[0]); err != nil {
			return err
		}
	}
	if err := sanityCheck(ctx, targets, o.route, replayed[0], unscoped); err != nil {
		return err
	}

	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	// The client holds every request; a collection marks them all and
	// stalls the calls in flight, which lands in both targets' p99. The
	// machine has the memory to collect rarely or never during the runs.
	runtime.GC()
	debug.SetMemoryLimit(o.clientMemLimit)
	debug.SetGCPercent(o.clientGOGC)
	results := map[string]map[string][]result{"distinct": {}, "replayed": {}}
	offsets := map[string]*int{}
	for _, name := range targetNames {
		offsets[name] = new(int)
	}
	for round := range o.rounds {
		for _, sc := range []string{"distinct", "replayed"} {
			for _, name := range rounds.Rotate(targetNames, round) {
				t := targets[name]
				load(ctx, t.clients, reqs["replayed"], false, nil, o.workers, o.warmup)
				cpu0, self0, gc0 := cpu.Process(t.PID()), cpu.Process(os.Getpid()), gcCount()
				r := load(ctx, t.clients, reqs[sc], sc == "distinct", offsets[name], o.workers, o.duration)
				r.serverCPU, r.clientCPU = cpu.Process(t.PID())-cpu0, cpu.Process(os.Getpid())-self0
				clientGCs := gcCount() - gc0
				results[sc][name] = append(results[sc][name], r)
				fmt.Fprintf(out, "round %d %-8s %-10s %8.0f checks/s  allowed %7d denied %d errors %d  p50 %6.2f ms  p99 %7.2f ms  server cpu %3.0f%% (%4.0f µs/check)  client cpu %3.0f%% (%4.0f µs/check, %d GC)\n",
					round+1, sc, name, r.rps(), r.allowed, r.denied, r.errors, ms(r.p50), ms(r.p99),
					100*r.serverCPU/r.duration.Seconds(), r.cpuPerCheck(), 100*r.clientCPU/r.duration.Seconds(), 1e6*r.clientCPU/float64(max(1, r.allowed+r.denied)), clientGCs)
			}
		}
	}
	for _, name := range targetNames {
		if err := targets[name].Alive(); err != nil {
			return err
		}
	}
	report(out, o, results)
	return nil
}

func report(out io.Writer, o options, results map[string]map[string][]result) {
	fmt.Fprintf(out, "\nCheck GET %s, %d workers over %d connections, %s per run, %d round(s), medians\n\n", o.route, o.workers, o.conns, o.duration, o.rounds)
	fmt.Fprintln(out, "| scenario | target | checks/s | p50 ms | p99 ms | server µs/check | checks/s ÷ peer | p99 ÷ peer | peer's CPU ÷ ours | denied+errors |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|---|---|")
	for _, sc := range []string{"distinct", "replayed"} {
		peer := results[sc]["opa-envoy"]
		prps, pp99, pcpu := stats.MedianOf(peer, result.rps), stats.MedianOf(peer, func(r result) float64 { return ms(r.p99) }), stats.MedianOf(peer, result.cpuPerCheck)
		for _, name := range targetNames {
			rs := results[sc][name]
			rps, p50, p99 := stats.MedianOf(rs, result.rps), stats.MedianOf(rs, func(r result) float64 { return ms(r.p50) }), stats.MedianOf(rs, func(r result) float64 { return ms(r.p99) })
			cpu := stats.MedianOf(rs, result.cpuPerCheck)
			bad := 0
			for _, r := range rs {
				bad += r.denied + r.errors
			}
			fmt.Fprintf(out, "| %s | %s | %.0f | %.2f | %.2f | %.0f | %.2fx | %.2fx | %.2fx | %d |\n", sc, name, rps, p50, p99, cpu, rps/prps, p99/pp99, pcpu/cpu, bad)
		}
	}
	if o.serverCPUs == "" {
		fmt.Fprintln(out, "\n(the load client shares the machine's cores with the server under test; compare the ratios.")
	} else {
		fmt.Fprintf(out, "\n(every target ran on CPUs %s only; compare the ratios.\n", o.serverCPUs)
	}
	fmt.Fprintln(out, "bare-grpc answers OK without looking: its checks/s is the transport's ceiling, its p99 the floor under every target's.)")
	pg, peer := results["distinct"]["policygate"], results["distinct"]["opa-envoy"]
	p99 := func(r result) float64 { return ms(r.p99) }
	rpsRatio, p99Ratio := stats.MedianOf(pg, result.rps)/stats.MedianOf(peer, result.rps), stats.MedianOf(pg, p99)/stats.MedianOf(peer, p99)
	fmt.Fprintln(out, "\ngoals (distinct tokens):")
	fmt.Fprintf(out, "  checks/s >= 3x the peer's   %5.2fx  %s\n", rpsRatio, metOrMissed(rpsRatio >= 3))
	fmt.Fprintf(out, "  p99 <= 1/3 of the peer's    %5.2fx  %s\n", p99Ratio, metOrMissed(p99Ratio <= 1.0/3))
}

func metOrMissed(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// gcCount is how many collections this load client has run.
func gcCount() uint32 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.NumGC
}

func budgetOf(o options) time.Duration {
	return time.Duration(o.rounds*runsPerRound) * (o.duration + o.warmup)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
