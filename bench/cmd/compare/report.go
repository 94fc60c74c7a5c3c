package main

import (
	"fmt"
	"io"

	"github.com/policygate/policygate/bench/internal/stats"
	"github.com/policygate/policygate/bench/internal/wrk"
)

type memory struct {
	maxRSS, hwm   int64 // KiB
	anon, file    int64 // KiB: the largest RssAnon and RssFile sampled
	before, after int   // goroutines
}

// summary is the median of a target's rounds in one scenario. cpuUS is
// the server's CPU time per request (microseconds), which depends less
// than req/s on how much of the shared machine the server was given.
type summary struct{ rps, p50, p99, cpuUS float64 }

func summarize(rs []wrk.Result) summary {
	return summary{
		rps: stats.MedianOf(rs, wrk.Result.RPS),
		p50: stats.MedianOf(rs, func(r wrk.Result) float64 { return float64(r.P50US) }),
		p99: stats.MedianOf(rs, func(r wrk.Result) float64 { return float64(r.P99US) }),
		cpuUS: stats.MedianOf(rs, func(r wrk.Result) float64 {
			return 1e6 * r.ServerCPU / max(1, float64(r.Requests))
		}),
	}
}

// pairedRatio is the median over rounds of a's req/s divided by b's in the
// same round: the two ran seconds apart, so a change in the
// machine's other load between rounds cancels out of it.
func pairedRatio(a, b []wrk.Result) float64 { return stats.PairedRatio(a, b, wrk.Result.RPS) }

// report prints the ratio table, the memory line and the goals.
func report(out io.Writer, o options, results map[string]map[string][]wrk.Result, m memory) {
	fmt.Fprintf(out, "\nGET %s, wrk -t%d -c%d, %s per run, %d round(s), medians; policygate LOG_LEVEL=%s\n\n",
		o.route, o.threads, o.connections, o.duration, o.rounds, o.logLevel)
	fmt.Fprintln(out, "| scenario | target | req/s ÷ Auth0 | req/s ÷ bare chi | p99 ÷ Auth0 | req/s | p50 ms | p99 ms | server CPU us/req | paired req/s ÷ Auth0 | paired req/s ÷ bare chi |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|---|---|---|")
	sums := map[string]map[string]summary{}
	for _, sc := range []string{"distinct", "replayed"} {
		sums[sc] = map[string]summary{}
		for _, name := range targetNames {
			sums[sc][name] = summarize(results[sc][name])
		}
		auth0, bare := sums[sc]["auth0"], sums[sc]["bare-chi"]
		for _, name := range targetNames {
			s := sums[sc][name]
			fmt.Fprintf(out, "| %s | %s | %.2fx | %.2fx | %.2fx | %.0f | %.2f | %.2f | %.1f | %.2fx | %.2fx |\n",
				sc, name, s.rps/auth0.rps, s.rps/bare.rps, s.p99/auth0.p99, s.rps, s.p50/1000, s.p99/1000, s.cpuUS,
				pairedRatio(results[sc][name], results[sc]["auth0"]), pairedRatio(results[sc][name], results[sc]["bare-chi"]))
		}
	}
	fmt.Fprintln(out, "\n(absolute numbers depend on the machine and on wrk sharing its cores; compare the ratios.")
	fmt.Fprintln(out, "The goals read the first ratios, of medians; \"paired\" ratios are medians of per-round ratios.)")
	fmt.Fprintf(out, "\npolicygate memory: RSS max %.1f MiB sampled, VmHWM %.1f MiB (largest RssAnon %.1f MiB: heap and stacks; "+
		"largest RssFile %.1f MiB: pages of the executable); goroutines %d before, %d after\n",
		float64(m.maxRSS)/1024, float64(m.hwm)/1024, float64(m.anon)/1024, float64(m.file)/1024, m.before, m.after)

	pg := func(sc string) summary { return sums[sc]["policygate"] }
	a0 := func(sc string) summary { return sums[sc]["auth0"] }
	goals := []struct {
		name string
		met  bool
		got  string
	}{
		{"distinct: req/s >= 1.05x Auth0", pg("distinct").rps >= 1.05*a0("distinct").rps, fmt.Sprintf("%.2fx", pg("distinct").rps/a0("distinct").rps)},
		{"distinct: p99 <= Auth0's", pg("distinct").p99 <= a0("distinct").p99, fmt.Sprintf("%.2fx", pg("distinct").p99/a0("distinct").p99)},
		{"replayed: req/s >= 2.0x Auth0", pg("replayed").rps >= 2*a0("replayed").rps, fmt.Sprintf("%.2fx", pg("replayed").rps/a0("replayed").rps)},
		{"replayed: req/s >= 0.7x bare chi", pg("replayed").rps >= 0.7*sums["replayed"]["bare-chi"].rps, fmt.Sprintf("%.2fx", pg("replayed").rps/sums["replayed"]["bare-chi"].rps)},
		{"RSS <= 64 MiB", max(m.maxRSS, m.hwm) <= 64*1024, fmt.Sprintf("%.1f MiB", float64(max(m.maxRSS, m.hwm))/1024)},
		{"no goroutine growth", m.after <= m.before, fmt.Sprintf("%d -> %d", m.before, m.after)},
	}
	fmt.Fprintln(out, "\ngoals:")
	for _, g := range goals {
		mark := "met"
		if !g.met {
			mark = "MISSED"
		}
		fmt.Fprintf(out, "  %-34s %-8s %s\n", g.name, g.got, mark)
	}
}
