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

// proxyTransportLine is where proxy mode configures its upstream transport
// (internal/api/proxy.go); the what-if build adds a line after it.
const proxyTransportLine = "t.Proxy = nil"

// buildIdleWhatIf builds policygate with one change, for this bench only:
// proxy mode's transport keeps idle upstream connections per host instead
// of Go's default 2 (with more concurrent requests than that, every other
// request dials a new connection). The product is untouched: the change is
// a go build -overlay of a copy of proxy.go. It returns "" with a warning
// when proxy.go no longer has the line the change follows.
func buildIdleWhatIf(ctx context.Context, repo, work string, idle int) (string, error) {
	src := filepath.Join(repo, "internal", "api", "proxy.go")
	b, err := os.ReadFile(src)
	if err != nil {
		return "", err
	}
	code := string(b)
	if strings.Count(code, proxyTransportLine) != 1 {
		fmt.Fprintf(os.Stderr, "warning: %s no longer has %q once: no what-if row\n", src, proxyTransportLine)
		return "", nil
	}
	code = strings.Replace(code, proxyTransportLine,
		proxyTransportLine+"; t.MaxIdleConnsPerHost = "+strconv.Itoa(idle), 1)
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
