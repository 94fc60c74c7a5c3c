package main

import (
	"fmt"
	"io"

	"github.com/policygate/policygate/bench/internal/stats"
	"github.com/policygate/policygate/bench/internal/wrk"
)

// summary is the median of a row's rounds.
// cpuUS is the server's CPU time per request in microseconds: on a
// machine shared with other work it varies less than req/s, which also
// depends on how much CPU the server was given.
type summary struct{ rps, p50, p99, serverCPU, otherCPU, cpuUS float64 }

// pairedRatio is the median over rounds of a's req/s divided by b's in the
// same round: the two ran seconds apart, so a change in the machine's
// other load between rounds cancels out of it.
func pairedRatio(a, b []wrk.Result) float64 { return stats.PairedRatio(a, b, wrk.Result.RPS) }

func summarize(rs []wrk.Result) summary {
	share := func(cpu func(wrk.Result) float64) func(wrk.Result) float64 {
		return func(r wrk.Result) float64 { return 100 * cpu(r) / r.Seconds() }
	}
	return summary{
		rps:       stats.MedianOf(rs, wrk.Result.RPS),
		p50:       stats.MedianOf(rs, func(r wrk.Result) float64 { return float64(r.P50US) / 1000 }),
		p99:       stats.MedianOf(rs, func(r wrk.Result) float64 { return float64(r.P99US) / 1000 }),
		serverCPU: stats.MedianOf(rs, share(func(r wrk.Result) float64 { return r.ServerCPU })),
		otherCPU:  stats.MedianOf(rs, share(func(r wrk.Result) float64 { return r.OtherCPU })),
		cpuUS:     stats.MedianOf(rs, func(r wrk.Result) float64 { return 1e6 * r.ServerCPU / float64(r.Requests) }),
	}
}

// goal is judged on got (a ratio of medians); paired, when not zero, is
// the median of the same ratio per round, shown beside it.
type goal struct {
	name        string
	got, paired float64
	met         bool
}

// report prints one table per experiment (medians, ratios to the
// experiment's first row or named baseline) and the goals.
func report(out io.Writer, o options, exps []experiment, results map[string]map[string][]wrk.Result, lookups map[string][2]float64) {
	fmt.Fprintf(out, "\nwrk -t%d -c%d, %s per run after %s warm-up, %d interleaved round(s), medians; policygate LOG_LEVEL=%s\n",
		o.threads, o.connections, o.duration, o.warmup, o.rounds, o.logLevel)
	var goals []goal
	for _, e := range exps {
		sums := map[string]summary{}
		for _, r := range e.rows {
			sums[r.label] = summarize(results[e.name][r.label])
		}
		base := e.rows[0].label // policygate, or the reference row
		fmt.Fprintf(out, "\n%s\n\n| row | req/s | ÷ %s | paired ÷ | p50 ms | p99 ms | server CPU us/req | server CPU %% | other CPU %% |\n|---|---|---|---|---|---|---|---|---|\n", e.name, base)
		for _, r := range e.rows {
			s := sums[r.label]
			fmt.Fprintf(out, "| %s | %.0f | %.2fx | %.2fx | %.2f | %.2f | %.1f | %.0f | %.0f |\n",
				r.label, s.rps, s.rps/sums[base].rps, pairedRatio(results[e.name][r.label], results[e.name][base]),
				s.p50, s.p99, s.cpuUS, s.serverCPU, s.otherCPU)
		}
		ratio := func(a, b int) float64 { return sums[e.rows[a].label].rps / sums[e.rows[b].label].rps }
		cpu := func(i int) float64 { return sums[e.rows[i].label].cpuUS }
		paired := func(a, b int) float64 {
			return pairedRatio(results[e.name][e.rows[a].label], results[e.name][e.rows[b].label])
		}
		switch e.name {
		case "replayed", "distinct":
			// The goal holds against both Oathkeeper configurations.
			want := map[string]float64{"replayed": 4, "distinct": 2.5}[e.name]
			for i, cfg := range []string{"log info", "log warn"} {
				r := ratio(0, i+1)
				goals = append(goals, goal{fmt.Sprintf("%s: policygate >= %.1fx Oathkeeper (%s)", e.name, want, cfg), r, paired(0, i+1), r >= want})
			}
			fmt.Fprintf(out, "\nserver CPU per request, Oathkeeper ÷ policygate: %.2fx (log info), %.2fx (log warn)\n", cpu(1)/cpu(0), cpu(2)/cpu(0))
		case "ids":
			goals = append(goals, goal{"ids: pattern route with ids >= 0.8x one literal route", ratio(1, 0), paired(1, 0), ratio(1, 0) >= 0.8})
			fmt.Fprintf(out, "\nserver CPU per request, ids ÷ literal: %.2fx\n", cpu(1)/cpu(0))
			for _, r := range e.rows {
				if l, ok := lookups[r.label]; ok && l[0]+l[1] > 0 {
					fmt.Fprintf(out, "decision cache during %s: %.0f hits, %.0f misses (%.2f%% hits)\n", r.label, l[0], l[1], 100*l[0]/(l[0]+l[1]))
				}
			}
		case "proxy":
			// Machine time per request (all cores, wrk and upstream included):
			// what a hop adds is the difference of 1/throughput.
			us := func(i int) float64 { return 1e6 / sums[e.rows[i].label].rps }
			hop, tuned, mode := us(1)-us(0), us(2)-us(0), us(4)-us(3)
			p50 := func(a, b int) float64 { return sums[e.rows[a].label].p50 - sums[e.rows[b].label].p50 }
			fmt.Fprintf(out, "\nadded per request (1/req/s difference): plain hop %.1f us, plain hop with idle conns raised %.1f us, proxy mode %.1f us\n", hop, tuned, mode)
			fmt.Fprintf(out, "p50 added: plain hop %.2f ms, plain hop with idle conns raised %.2f ms, proxy mode %.2f ms\n", p50(1, 0), p50(2, 0), p50(4, 3))
			fmt.Fprintf(out, "server CPU added per request: plain hop %.1f us, plain hop with idle conns raised %.1f us, proxy mode %.1f us (the upstream's not counted)\n",
				cpu(1)-cpu(0), cpu(2)-cpu(0), cpu(4)-cpu(3))
			fmt.Fprintf(out, "proxy mode's added us ÷ the tuned hop's: %.2fx\n", mode/tuned)
			goals = append(goals, goal{"proxy mode adds <= one plain hop (ratio of added us)", mode / hop, 0, mode <= hop})
		}
	}
	fmt.Fprintln(out, "\n(absolute numbers depend on the machine and on wrk sharing its cores; compare the ratios)")
	fmt.Fprintln(out, "\ngoals:")
	for _, g := range goals {
		mark := "met"
		if !g.met {
			mark = "MISSED"
		}
		p := ""
		if g.paired != 0 {
			p = fmt.Sprintf(" (paired %.2fx)", g.paired)
		}
		fmt.Fprintf(out, "  %-56s %6.2fx  %-6s%s\n", g.name, g.got, mark, p)
	}
}
