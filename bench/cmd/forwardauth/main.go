// Command forwardauth is policygate's forward-auth load bench. It builds
// policygate (from the repository this module lives in), Ory Oathkeeper
// (downloaded and built by oathkeeper/build.sh), a bare chi upstream and a
// plain reverse-proxy hop, starts them on 127.0.0.1 against one local
// identity provider and drives them in turn with wrk, interleaved over
// rounds, in three experiments:
//
//	oathkeeper  GET /authz (policygate) and GET /decisions (Oathkeeper),
//	            both naming GET /api/private-scoped in X-Forwarded-Method,
//	            -Uri and -Host, which needs read:messages on both; with a
//	            replayed token set and with distinct tokens; Oathkeeper at
//	            its default log level (a line per request and answer) and
//	            at warn (none, like policygate at its default for an allow)
//	proxy       what proxy mode adds: policygate's built-in route against
//	            policygate with UPSTREAM_URL in front of the bare upstream,
//	            beside the bare upstream and one plain httputil.ReverseProxy
//	            hop in front of it (the yardsticks: with Go's default
//	            transport, 2 idle connections per host, and with twice
//	            -connections kept, 64 by default, as proxy mode keeps)
//	ids         /authz naming /api/items/ID with -ids distinct IDs on one
//	            pattern route against /authz naming one literal route
//
// It prints medians and ratios. Ratios, not absolute numbers, are the
// result: wrk shares the machine's cores with the servers under test.
//
//	cd bench && go run ./cmd/forwardauth [-duration 5s] [-rounds 3] [-only oathkeeper,proxy,ids]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/policygate/policygate/bench/internal/build"
	"github.com/policygate/policygate/bench/internal/cli"
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
	ids              int
	only             string
	logLevel         string
	repo             string
	oathkeeper       string
	keep             bool
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "measured load per row and round")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured load (replayed tokens) before each measured run")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; each runs every row once, in a rotating order (medians are reported)")
	flag.IntVar(&o.connections, "connections", 32, "wrk connections")
	flag.IntVar(&o.threads, "threads", 2, "wrk threads")
	flag.IntVar(&o.tokens, "tokens", 30_000, "distinct tokens; keep it above twice policygate's token cache (10000)")
	flag.IntVar(&o.clients, "clients", 100, "clients (tokens) in the replayed scenarios")
	flag.IntVar(&o.ids, "ids", 20_000, "distinct IDs in the ids experiment (policygate's decision cache holds 10000)")
	flag.StringVar(&o.only, "only", "oathkeeper,proxy,ids", "experiments to run, comma-separated")
	flag.StringVar(&o.logLevel, "log-level", "info", "policygate's LOG_LEVEL (info logs every request, as shipped; Oathkeeper runs at its default, info)")
	flag.StringVar(&o.repo, "repo", "..", "policygate repository root")
	flag.StringVar(&o.oathkeeper, "oathkeeper", "", "Oathkeeper binary (default: built by oathkeeper/build.sh)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work folder (binaries, tokens, configurations, server logs)")
	flag.Parse()

	// Bounded: every run the flags ask for, plus builds and token minting.
	budget := time.Duration(o.rounds)*12*(o.duration+o.warmup+5*time.Second) + 30*time.Minute
	cli.Main("forwardauth", budget, func(ctx context.Context, out io.Writer) error { return run(ctx, o, out) })
}

// row is one measured line of an experiment.
type row struct {
	label string
	load  load
}

// experiment is a set of rows measured in the same rounds, interleaved.
type experiment struct {
	name string
	rows []row
}

func experiments(o options, w *world) []experiment {
	uriFiles := w.uriFiles
	fwd := func(server, path, uris, tokens string) load {
		return load{server: server, path: path, forwarded: true, uris: uriFiles[uris], tokens: tokens}
	}
	direct := func(server, tokens string) load {
		return load{server: server, uris: uriFiles["literal"], tokens: tokens}
	}
	all := map[string][]experiment{
		"oathkeeper": {
			{name: "replayed", rows: []row{
				{"policygate /authz", fwd("policygate", "/authz", "literal", "replayed")},
				{"oathkeeper /decisions, log info (default)", fwd("oathkeeper", "/decisions", "literal", "replayed")},
				{"oathkeeper /decisions, log warn", fwd("oathkeeper-quiet", "/decisions", "literal", "replayed")},
			}},
			{name: "distinct", rows: []row{
				{"policygate /authz", fwd("policygate", "/authz", "literal", "distinct")},
				{"oathkeeper /decisions, log info (default)", fwd("oathkeeper", "/decisions", "literal", "distinct")},
				{"oathkeeper /decisions, log warn", fwd("oathkeeper-quiet", "/decisions", "literal", "distinct")},
			}},
		},
		"proxy": {{name: "proxy", rows: []row{
			{"bare chi", direct("bare-chi", "replayed")},
			{"plain hop -> bare chi", direct("hop", "replayed")},
			{"plain hop, idle conns raised -> bare chi", direct("hop-tuned", "replayed")},
			{"policygate built-in", direct("policygate", "replayed")},
			{"policygate proxy -> bare chi", direct("policygate-proxy", "replayed")},
		}}},
		"ids": {{name: "ids", rows: []row{
			{"/authz one literal route", fwd("policygate", "/authz", "literal", "replayed")},
			{fmt.Sprintf("/authz %d ids, one pattern route", o.ids), fwd("policygate", "/authz", "ids", "replayed")},
		}}},
	}
	var out []experiment
	for _, name := range []string{"oathkeeper", "proxy", "ids"} {
		if slices.Contains(strings.Split(o.only, ","), name) {
			out = append(out, all[name]...)
		}
	}
	return out
}

func run(ctx context.Context, o options, out io.Writer) error {
	if !wrk.Installed() {
		return errors.New("wrk not found: apt-get install -y wrk")
	}
	repo, err := build.Repo(o.repo)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "policygate-forwardauth-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(out, "work folder:", work)
	} else {
		defer os.RemoveAll(work)
	}

	w, err := prepare(ctx, o, repo, work, out)
	if err != nil {
		return err
	}
	defer w.provider.Close()
	exps := experiments(o, w)
	if len(exps) == 0 {
		return fmt.Errorf("-only %q names no experiment (oathkeeper, proxy, ids)", o.only)
	}
	needed := map[string]bool{}
	for _, e := range exps {
		for _, r := range e.rows {
			needed[r.load.server] = true
		}
	}
	servers, err := startServers(ctx, o, w, needed)
	defer func() {
		for _, s := range servers {
			s.Stop()
		}
	}()
	if err != nil {
		return err
	}
	if err := sanityCheck(ctx, servers, exps, w); err != nil {
		return err
	}

	fmt.Fprintf(out, "load average before: %s\n", loadAverage())
	results := map[string]map[string][]wrk.Result{}
	// The ids rows' decision cache lookups during measured runs: hits, misses.
	lookups := map[string][2]float64{}
	offsets := map[string]int{} // where each server's walk through the distinct tokens goes on
	for round := range o.rounds {
		for _, e := range exps {
			if results[e.name] == nil {
				results[e.name] = map[string][]wrk.Result{}
			}
			// Rotate so no row always runs first (or right after another).
			for _, r := range rounds.Rotate(e.rows, round) {
				s := servers[r.load.server]
				warm := r.load
				warm.tokens = "replayed"
				if _, err := warm.run(ctx, o, s, w.script, w.tokenFiles, 0, o.warmup); err != nil {
					return err
				}
				offset := 0
				if r.load.tokens == "distinct" {
					offset = offsets[s.Name]
				}
				hits0, misses0, counted := cacheLookups(ctx, s.base)
				res, err := r.load.run(ctx, o, s, w.script, w.tokenFiles, offset, o.duration)
				if err != nil {
					return err
				}
				if hits, misses, ok := cacheLookups(ctx, s.base); e.name == "ids" && counted && ok {
					l := lookups[r.label]
					lookups[r.label] = [2]float64{l[0] + hits - hits0, l[1] + misses - misses0}
				}
				if r.load.tokens == "distinct" {
					offsets[s.Name] = (offsets[s.Name] + res.Requests/o.threads) % o.tokens
				}
				results[e.name][r.label] = append(results[e.name][r.label], res)
				fmt.Fprintf(out, "round %d %-8s %-40s %8.0f req/s  p50 %6.2f ms  p99 %7.2f ms  %s\n",
					round+1, e.name, r.label, res.RPS(), float64(res.P50US)/1000, float64(res.P99US)/1000, res.CPULine())
			}
		}
	}
	fmt.Fprintf(out, "load average after: %s\n", loadAverage())
	for _, s := range servers {
		if err := s.Alive(); err != nil {
			return err
		}
	}
	report(out, o, exps, results, lookups)
	return nil
}
