package authz

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/open-policy-agent/opa/v1/util"
)

// OPA's downloads bound the wait for a response's headers but not for its
// body: a bundle server (or a proxy before it) that sends headers and then
// stalls holds the download, and with it every later poll, for as long as
// the connection lives. The replica keeps enforcing the version it has and
// never learns of a newer one, a revocation included. OPA cannot be told
// to give up; what policygate can do is notice that a polled bundle has
// completed no download for far longer than its polling allows, and say so
// in the log and /readyz (last_error) until one completes.

// OPA's polling defaults (plugins/bundle and download).
const (
	opaMaxDelaySeconds          = 120
	opaResponseHeaderTimeoutSec = 10
)

// bundlePoll is how long one polled bundle may go without completing a
// download before it is reported as stalled.
type bundlePoll struct {
	name  string
	limit time.Duration
}

// pollsOf lists the polled bundles of an OPA configuration (a bundle with
// trigger: manual is downloaded only when asked, one from a file:// resource
// is read once), and counts all its
// bundles: each may complete no download for three of its longest polling
// intervals (max_delay_seconds plus any long-polling timeout), plus the
// response header timeout.
func pollsOf(config []byte) ([]bundlePoll, int, error) {
	var m struct {
		Bundles map[string]struct {
			Trigger  string `json:"trigger"`
			Resource string `json:"resource"`
			Polling  struct {
				MaxDelaySeconds           *int64 `json:"max_delay_seconds"`
				LongPollingTimeoutSeconds *int64 `json:"long_polling_timeout_seconds"`
			} `json:"polling"`
		} `json:"bundles"`
	}
	if err := util.Unmarshal(config, &m); err != nil {
		return nil, 0, fmt.Errorf("opa configuration: %w", err)
	}
	var polls []bundlePoll
	for name, b := range m.Bundles {
		if u, err := url.Parse(b.Resource); b.Trigger == "manual" || err == nil && u.Scheme == "file" {
			continue // downloaded only when asked, or read once from disk (OPA's own test)
		}
		interval := int64(opaMaxDelaySeconds)
		if b.Polling.MaxDelaySeconds != nil {
			interval = *b.Polling.MaxDelaySeconds
		}
		if b.Polling.LongPollingTimeoutSeconds != nil {
			interval += *b.Polling.LongPollingTimeoutSeconds
		}
		limit := time.Duration(3*interval+opaResponseHeaderTimeoutSec) * time.Second
		polls = append(polls, bundlePoll{name: name, limit: limit})
	}
	return polls, len(m.Bundles), nil
}

// stallKey keys a bundle's stall in the engine's errors, apart from the
// outcome of its downloads.
func stallKey(bundle string) string { return bundle + " (no download completes)" }

// watchStalls reports polled bundles that complete no download within
// their limit, until ctx ends. onBundleStatus records every completion.
func (e *Engine) watchStalls(ctx context.Context, polls []bundlePoll, started time.Time) {
	tick := polls[0].limit
	for _, p := range polls {
		tick = min(tick, p.limit)
	}
	t := time.NewTicker(max(tick/4, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			for _, p := range polls {
				e.mu.Lock()
				last, ok := e.lastPoll[p.name]
				reported := e.errs[stallKey(p.name)] != nil
				e.mu.Unlock()
				if !ok {
					last = started
				}
				if since := now.Sub(last); since > p.limit && !reported { // once per stall
					e.setError(stallKey(p.name), fmt.Errorf("bundle %s: no download has completed for %s; one may be stuck on a response body that never ends, and no newer version can arrive until it does", p.name, since.Round(time.Second)))
				}
			}
		}
	}
}
