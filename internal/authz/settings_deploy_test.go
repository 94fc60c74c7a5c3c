package authz_test

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/util"

	"github.com/policygate/policygate/internal/authz"
)

// TestReadOPAConfigShipped reads the OPA configurations the manifests ship
// as the server would, with the settings their manifests (or docs) give,
// so a shipped configuration that cannot start fails `go test ./...`.
func TestReadOPAConfigShipped(t *testing.T) {
	const repo = "../.."
	fleet := filepath.Join(repo, "deploy/kubernetes/overlays/fleet")

	// The fleet overlay's environment: the base's settings.env merged with
	// the overlay's literals (kustomize's behavior: merge).
	fleetEnv := readEnvFile(t, filepath.Join(repo, "deploy/kubernetes/base/settings.env"))
	var kustomization struct {
		ConfigMapGenerator []struct {
			Name     string   `json:"name"`
			Literals []string `json:"literals"`
		} `json:"configMapGenerator"`
	}
	unmarshalFile(t, filepath.Join(fleet, "kustomization.yaml"), &kustomization)
	for _, g := range kustomization.ConfigMapGenerator {
		if g.Name != "policygate-settings" {
			continue
		}
		for _, l := range g.Literals {
			name, value, _ := strings.Cut(l, "=")
			fleetEnv[name] = value
		}
	}

	// The chart's bundles.opaConfig, written as it is into the ConfigMap,
	// with the settings .ci/deploy and docs/deploy.md give it.
	var values struct {
		Bundles struct {
			OPAConfig string `json:"opaConfig"`
		} `json:"bundles"`
	}
	unmarshalFile(t, filepath.Join(repo, "deploy/helm/policygate/values.yaml"), &values)
	if values.Bundles.OPAConfig == "" {
		t.Fatal("deploy/helm/policygate/values.yaml: no bundles.opaConfig")
	}
	chartConfig := filepath.Join(t.TempDir(), "opa.yaml")
	if err := os.WriteFile(chartConfig, []byte(values.Bundles.OPAConfig), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		path string
		env  map[string]string
	}{
		{name: "fleet_overlay", path: filepath.Join(fleet, "opa.yaml"), env: fleetEnv},
		{name: "chart_default", path: chartConfig, env: map[string]string{"BUNDLE_SERVER": "https://bundles.example.com"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := authz.ReadOPAConfig(tc.path, func(name string) string { return tc.env[name] })
			if err != nil {
				t.Fatalf("ReadOPAConfig(%s) error = %v", tc.path, err)
			}
			var doc struct {
				Services map[string]struct {
					URL string `json:"url"`
				} `json:"services"`
			}
			if err := util.Unmarshal(got, &doc); err != nil {
				t.Fatal(err)
			}
			if url, want := doc.Services["bundles"].URL, tc.env["BUNDLE_SERVER"]; url != want || url == "" {
				t.Errorf("ReadOPAConfig(%s): services.bundles.url = %q, want %q", tc.path, url, want)
			}
		})
	}
}

// readEnvFile reads a kustomize envs file: NAME=value lines, # comments.
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: %q is not NAME=value", path, line)
		}
		env[name] = value
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return env
}

func unmarshalFile(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := util.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
