package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/policygate/policygate/bench/internal/idp"
	"github.com/policygate/policygate/bench/internal/proc"
)

// buildOathkeeper returns -oathkeeper, or runs oathkeeper/build.sh, which
// downloads Oathkeeper's module source and builds it (once: the binary is
// kept in the user's cache folder).
func buildOathkeeper(ctx context.Context, o options, bench string) (string, error) {
	if o.oathkeeper != "" {
		return o.oathkeeper, nil
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bench, "oathkeeper", "build.sh"))
	cmd.Dir, cmd.Stderr = bench, os.Stderr
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("oathkeeper/build.sh: %w", err)
	}
	bin := strings.TrimSpace(string(b))
	if i := strings.LastIndexByte(bin, '\n'); i >= 0 {
		bin = bin[i+1:]
	}
	return bin, nil
}

// oathkeeperCommand writes Oathkeeper's configuration and access rules
// (oathkeeper/config.yml and rules.json, with this run's ports and
// identity provider) to the work folder and returns the command that
// serves its API, decisions included, on addr, logging at level.
func oathkeeperCommand(w *world, addr, level string) (*exec.Cmd, string, error) {
	proxyAddr, err := proc.FreeAddr()
	if err != nil {
		return nil, "", err
	}
	metricsAddr, err := proc.FreeAddr()
	if err != nil {
		return nil, "", err
	}
	rules := filepath.Join(w.work, "oathkeeper-rules.json")
	b, err := os.ReadFile(filepath.Join(w.bench, "oathkeeper", "rules.json"))
	if err != nil {
		return nil, "", err
	}
	if err := os.WriteFile(rules, b, 0o600); err != nil {
		return nil, "", err
	}
	tmpl, err := os.ReadFile(filepath.Join(w.bench, "oathkeeper", "config.yml"))
	if err != nil {
		return nil, "", err
	}
	values := map[string]string{
		"API_PORT": port(addr), "PROXY_PORT": port(proxyAddr), "PROMETHEUS_PORT": port(metricsAddr),
		"RULES_FILE": rules, "JWKS_URL": w.provider.JWKSURL(), "ISSUER": w.provider.Issuer, "AUDIENCE": idp.Audience,
		"LOG_LEVEL": level,
	}
	var missing []string
	config := os.Expand(string(tmpl), func(k string) string {
		v, ok := values[k]
		if !ok {
			missing = append(missing, k)
		}
		return v
	})
	if len(missing) > 0 {
		return nil, "", fmt.Errorf("oathkeeper/config.yml: unknown ${%s}", strings.Join(missing, "}, ${"))
	}
	file := filepath.Join(w.work, "oathkeeper-"+level+".yml")
	if err := os.WriteFile(file, bytes.TrimSpace([]byte(config)), 0o600); err != nil {
		return nil, "", err
	}
	cmd := exec.Command(w.bins["oathkeeper"], "serve", "--config", file, "--sqa-opt-out")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "SQA_OPT_OUT=true"}
	return cmd, "http://" + addr + "/health/ready", nil
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}
