package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// The what-if build's two edits of internal/api/proxy.go: the line its
// transport setting follows, and the forced flush it drops.
const (
	proxyTransportLine = "t.Proxy = nil"
	proxyFlushLine     = "FlushInterval: -1,"
)

// buildWhatIf builds policygate with two changes to proxy mode, for this
// bench only: its transport keeps idle upstream connections per host
// instead of Go's default 2 (with more concurrent requests than that, most
// requests dial a new connection), and it no longer flushes after every
// write (FlushInterval -1: httputil.ReverseProxy already flushes
// server-sent events and responses of unknown length at once; for the
// rest, the forced flush costs a write per response). The product is
// untouched: the changes are a go build -overlay of a copy of proxy.go. It
// returns "" with a warning when proxy.go no longer has the lines.
func buildWhatIf(ctx context.Context, repo, work string, idle int) (string, error) {
	src := filepath.Join(repo, "internal", "api", "proxy.go")
	b, err := os.ReadFile(src)
	if err != nil {
		return "", err
	}
	code := string(b)
	for _, line := range []string{proxyTransportLine, proxyFlushLine} {
		if strings.Count(code, line) != 1 {
			fmt.Fprintf(os.Stderr, "warning: %s no longer has %q once: no what-if row\n", src, line)
			return "", nil
		}
	}
	code = strings.Replace(code, proxyTransportLine,
		proxyTransportLine+"; t.MaxIdleConnsPerHost = "+strconv.Itoa(idle), 1)
	code = strings.Replace(code, proxyFlushLine, "", 1)
	patched := filepath.Join(work, "proxy_whatif.go")
	if err := os.WriteFile(patched, []byte(code), 0o600); err != nil {
		return "", err
	}
	overlay := filepath.Join(work, "whatif-overlay.json")
	if err := os.WriteFile(overlay, fmt.Appendf(nil, `{"Replace": {%q: %q}}`, src, patched), 0o600); err != nil {
		return "", err
	}
	bin := filepath.Join(work, "policygate-idle")
	cmd := exec.CommandContext(ctx, "go", "build", "-overlay", overlay, "-o", bin, "./cmd/server")
	cmd.Dir, cmd.Stdout, cmd.Stderr = repo, os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build the what-if policygate: %w", err)
	}
	return bin, nil
}
