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
// It prints medians of the rounds and the ratios to the peer.
//
//	cd bench && go run ./cmd/grpcload [-duration 5s] [-rounds 3]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/policygate/policygate/bench/internal/idp"
)

type options struct {
	duration, warmup time.Duration
	rounds, workers  int
	conns            int
	tokens, clients  int
	route, repo      string
	logLevel         string
	jwtCache         bool
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
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	budget := time.Duration(o.rounds)*4*(o.duration+o.warmup+5*time.Second) + 10*time.Minute
	ctx, cancel := context.WithTimeout(ctx, budget)
	err := run(ctx, o, os.Stdout)
	cancel()
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "grpcload:", err)
		os.Exit(1)
	}
}

var targetNames = []string{"policygate", "opa-envoy"}

type target struct {
	name    string
	addr    string
	cmd     *exec.Cmd
	log     string        // the target's log file
	done    chan struct{} // closed when the process has exited
	exitErr error         // set before done closes
	clients []authv3.AuthorizationClient
	conns   []*grpc.ClientConn
}

func run(ctx context.Context, o options, out io.Writer) error {
	repo, err := filepath.Abs(o.repo)
	if err != nil {
		return err
	}
	if b, err := os.ReadFile(filepath.Join(repo, "go.mod")); err != nil || !slices.Contains([]string{"module github.com/policygate/policygate"}, firstLine(b)) {
		return fmt.Errorf("-repo %s is not the policygate repository", repo)
	}
	work, err := os.MkdirTemp("", "policygate-grpcload-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	fmt.Fprintln(out, "building policygate and the peer ...")
	bench, _ := os.Getwd()
	for _, b := range []struct{ dir, pkg, bin string }{{repo, "./cmd/server", "policygate"}, {bench, "./cmd/opaenvoy", "opa-envoy"}} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(work, b.bin), b.pkg)
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

	targets := map[string]*target{}
	defer func() {
		for _, t := range targets {
			t.stop()
		}
	}()
	for _, name := range targetNames {
		t := &target{name: name}
		if t.addr, err = freeAddr(); err != nil {
			return err
		}
		bin := filepath.Join(work, name)
		switch name {
		case "policygate":
			httpAddr, err := freeAddr()
			if err != nil {
				return err
			}
			t.cmd = exec.Command(bin)
			t.cmd.Env = []string{
				"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
				"AUTH_ISSUER=" + provider.Issuer, "AUTH_AUDIENCE=" + idp.Audience, "AUTH_JWKS_URL=" + provider.JWKSURL(),
				"LISTEN_ADDR=" + httpAddr, "GRPC_LISTEN_ADDR=" + t.addr, "LOG_LEVEL=" + o.logLevel,
				"POLICY_DIR=" + filepath.Join(repo, "policies"),
			}
		case "opa-envoy":
			args := []string{"-addr", t.addr, "-issuer", provider.Issuer, "-audience", idp.Audience, "-jwks-url", provider.JWKSURL()}
			if o.jwtCache {
				args = append(args, "-jwt-cache")
			}
			t.cmd = exec.Command(bin, args...)
		}
		t.cmd.Dir = work
		t.log = filepath.Join(work, name+".log")
		logFile, err := os.Create(t.log)
		if err != nil {
			return err
		}
		defer logFile.Close()
		t.cmd.Stdout, t.cmd.Stderr = logFile, logFile
		if err := t.cmd.Start(); err != nil {
			return fmt.Errorf("start %s: %w", name, err)
		}
		t.done = make(chan struct{})
		go func() { t.exitErr = t.cmd.Wait(); close(t.done) }()
		targets[name] = t
		for range o.conns {
			conn, err := grpc.NewClient(t.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				return err
			}
			t.conns = append(t.conns, conn)
			t.clients = append(t.clients, authv3.NewAuthorizationClient(conn))
		}
	}
	for _, name := range targetNames {
		if err := targets[name].waitReady(ctx, 60*time.Second, o.route, replayed[0]); err != nil {
			return err
		}
	}
	if err := sanityCheck(ctx, targets, o.route, replayed[0], unscoped); err != nil {
		return err
	}

	reqs := map[string][]*authv3.CheckRequest{"distinct": requests(o.route, distinct), "replayed": requests(o.route, replayed)}
	results := map[string]map[string][]result{"distinct": {}, "replayed": {}}
	offsets := map[string]*int{}
	for _, name := range targetNames {
		offsets[name] = new(int)
	}
	for round := range o.rounds {
		for _, sc := range []string{"distinct", "replayed"} {
			order := slices.Clone(targetNames)
			if round%2 == 1 {
				slices.Reverse(order)
			}
			for _, name := range order {
				t := targets[name]
				load(ctx, t.clients, reqs["replayed"], false, nil, o.workers, o.warmup)
				cpu0, self0 := processCPU(t.cmd.Process.Pid), processCPU(os.Getpid())
				r := load(ctx, t.clients, reqs[sc], sc == "distinct", offsets[name], o.workers, o.duration)
				r.serverCPU, r.clientCPU = processCPU(t.cmd.Process.Pid)-cpu0, processCPU(os.Getpid())-self0
				results[sc][name] = append(results[sc][name], r)
				fmt.Fprintf(out, "round %d %-8s %-10s %8.0f checks/s  allowed %7d denied %d errors %d  p50 %6.2f ms  p99 %7.2f ms  server cpu %3.0f%% (%4.0f µs/check)  client cpu %3.0f%% (%4.0f µs/check)\n",
					round+1, sc, name, r.rps(), r.allowed, r.denied, r.errors, ms(r.p50), ms(r.p99),
					100*r.serverCPU/r.duration.Seconds(), r.cpuPerCheck(), 100*r.clientCPU/r.duration.Seconds(), 1e6*r.clientCPU/float64(max(1, r.allowed+r.denied)))
			}
		}
	}
	for _, name := range targetNames {
		select {
		case <-targets[name].done:
			return fmt.Errorf("%s exited during the run: %v", name, targets[name].exitErr)
		default:
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
		prps, pp99, pcpu := median(peer, result.rps), median(peer, func(r result) float64 { return ms(r.p99) }), median(peer, result.cpuPerCheck)
		for _, name := range targetNames {
			rs := results[sc][name]
			rps, p50, p99 := median(rs, result.rps), median(rs, func(r result) float64 { return ms(r.p50) }), median(rs, func(r result) float64 { return ms(r.p99) })
			cpu := median(rs, result.cpuPerCheck)
			bad := 0
			for _, r := range rs {
				bad += r.denied + r.errors
			}
			fmt.Fprintf(out, "| %s | %s | %.0f | %.2f | %.2f | %.0f | %.2fx | %.2fx | %.2fx | %d |\n", sc, name, rps, p50, p99, cpu, rps/prps, p99/pp99, pcpu/cpu, bad)
		}
	}
	fmt.Fprintln(out, "\n(the load client shares the machine's cores with the server under test; compare the ratios)")
	pg, peer := results["distinct"]["policygate"], results["distinct"]["opa-envoy"]
	p99 := func(r result) float64 { return ms(r.p99) }
	rpsRatio, p99Ratio := median(pg, result.rps)/median(peer, result.rps), median(pg, p99)/median(peer, p99)
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

func (t *target) waitReady(ctx context.Context, limit time.Duration, route, token string) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-t.done:
			b, _ := os.ReadFile(t.log)
			return fmt.Errorf("%s exited at start: %v\n%s", t.name, t.exitErr, b)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		var err error
		if t.name == "policygate" {
			var h *healthpb.HealthCheckResponse
			if h, err = healthpb.NewHealthClient(t.conns[0]).Check(cctx, &healthpb.HealthCheckRequest{}); err == nil && h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				err = errors.New("not serving")
			}
		} else {
			_, err = t.clients[0].Check(cctx, check(route, token))
		}
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %s", t.name, limit)
}

// sanityCheck makes sure both targets give the same answers before any
// load: allowed with the scope, 403 without it, 401 without a token.
func sanityCheck(ctx context.Context, targets map[string]*target, route, scoped, unscoped string) error {
	for _, name := range targetNames {
		for _, c := range []struct {
			token  string
			status int
		}{{scoped, 200}, {unscoped, 403}, {"", 401}} {
			resp, err := targets[name].clients[0].Check(ctx, check(route, c.token))
			if err != nil {
				return fmt.Errorf("sanity check %s: %w", name, err)
			}
			got := 200
			if d := resp.GetDeniedResponse(); d != nil {
				got = int(d.GetStatus().GetCode())
			}
			if got != c.status {
				return fmt.Errorf("sanity check %s: status %d, want %d", name, got, c.status)
			}
		}
	}
	return nil
}

func (t *target) stop() {
	for _, c := range t.conns {
		c.Close()
	}
	if t.cmd.Process == nil {
		return
	}
	t.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-t.done:
	case <-time.After(10 * time.Second):
		t.cmd.Process.Kill()
		<-t.done
	}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return "127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), nil
}

func budgetOf(o options) time.Duration {
	return time.Duration(o.rounds) * 4 * (o.duration + o.warmup)
}

func firstLine(b []byte) string {
	for i, c := range b {
		if c == '\n' {
			return string(b[:i])
		}
	}
	return string(b)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
