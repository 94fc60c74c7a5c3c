package main

import (
	"context"
	"strconv"
	"time"

	"github.com/policygate/policygate/bench/internal/wrk"
)

// load is what one row of an experiment sends: to which server, on which
// path, with which tokens and URIs.
type load struct {
	server    string
	path      string // the request path; with forwarded, the forward-auth endpoint
	forwarded bool   // name the URI in X-Forwarded-Method/-Uri/-Host
	uris      string // file of URIs (forwarded) or request paths
	tokens    string // "distinct" or "replayed"
}

// forwardedHost is the X-Forwarded-Host every forwarded request names.
const forwardedHost = "api.example.com"

// run drives s with wrk for d; offset is where the walk through the token
// list starts.
func (l load) run(ctx context.Context, o options, s *server, script string, files map[string]string, offset int, d time.Duration) (wrk.Result, error) {
	fwd := "0"
	if l.forwarded {
		fwd = "1"
	}
	return wrk.Run{
		Name: s.Name, What: s.Name + " " + l.path, PID: s.PID(), URL: s.base + l.path, Script: script,
		Args:    []string{files[l.tokens], strconv.Itoa(offset), strconv.Itoa(o.threads), l.uris, fwd, forwardedHost},
		Threads: o.threads, Connections: o.connections, Duration: d,
	}.Do(ctx)
}
