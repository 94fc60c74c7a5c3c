package imagetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/policygate/policygate/internal/testwait"
)

// Bounds of every wait: podman calls, readiness, one HTTP request.
const (
	podmanTimeout  = 60 * time.Second
	readyWait      = 30 * time.Second
	requestTimeout = 5 * time.Second
	stopTimeout    = 15 // seconds podman waits after SIGTERM; the server needs far less
)

// runOptions are podman run's options for every container here: limits
// the host grants (root in these CI containers may not raise nofile/nproc
// to podman's defaults), and runc when installed (crun fails on hosts with
// hybrid cgroups).
func runOptions() []string {
	opts := []string{"--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"}
	if _, err := exec.LookPath("runc"); err == nil {
		opts = append(opts, "--runtime", "runc")
	}
	return opts
}

// TestImage runs the image built by deploy/build-image.sh (named by
// POLICYGATE_IMAGE) on the host's network in dev mode, which listens on
// loopback only, and asks each run for readiness and the three built-in
// routes with tokens from the process's own dev issuer.
func TestImage(t *testing.T) {
	if os.Getenv("POLICYGATE_CONTAINER_TEST") != "1" {
		t.Skip("container test: set POLICYGATE_CONTAINER_TEST=1 and POLICYGATE_IMAGE (run .ci/container)")
	}
	image := os.Getenv("POLICYGATE_IMAGE")
	if image == "" {
		t.Fatal("POLICYGATE_CONTAINER_TEST=1 needs POLICYGATE_IMAGE, the image deploy/build-image.sh built")
	}
	podman := findPodman(t)
	policies, err := filepath.Abs(filepath.Join("..", "..", "policies"))
	if err != nil {
		t.Fatal(err)
	}
	kubePolicy, err := filepath.Abs(filepath.Join("..", "kubernetes", "base", "policy"))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("image_config", func(t *testing.T) {
		out := run(t, podman, "image", "inspect", "--format", "{{.Config.User}}|{{json .Config.Entrypoint}}", image)
		if got, want := strings.TrimSpace(out), `65532:65532|["/usr/local/bin/policygate"]`; got != want {
			t.Errorf("image user|entrypoint = %s, want %s", got, want)
		}
	})

	readOnly := []string{"--read-only", "--read-only-tmpfs=false", "--tmpfs", "/tmp"}
	tests := []struct {
		name       string
		args       []string // podman run options
		env        []string
		wantSource string // the policy's source in /readyz
	}{
		{name: "plain", wantSource: "embedded"},
		{name: "read_only_root_tmpfs", args: readOnly, wantSource: "embedded"},
		{
			// The server writes nothing to disk: a root that is read-only
			// with no writable /tmp at all is fine.
			name:       "read_only_root_without_tmp",
			args:       []string{"--read-only", "--read-only-tmpfs=false"},
			wantSource: "embedded",
		},
		{
			// As in Kubernetes: the policy and its tests mounted read-only
			// beside each other, the guard on.
			name: "read_only_root_policy_folder",
			args: append(append([]string{}, readOnly...),
				"--volume", policies+":/policy:ro",
				"--volume", policies+"_test:/policy_test:ro"),
			env:        []string{"POLICY_DIR=/policy", "POLICY_TESTS_MUST_PASS=true"},
			wantSource: "/policy",
		},
		{
			// The Kubernetes base's policy folder, tests inside it, where
			// the Deployment mounts it (the kubelet's symlink layout aside).
			name: "read_only_root_kubernetes_policy",
			args: append(append([]string{}, readOnly...),
				"--volume", kubePolicy+":/etc/policygate/policy:ro"),
			env:        []string{"POLICY_DIR=/etc/policygate/policy", "POLICY_TESTS_MUST_PASS=true"},
			wantSource: "/etc/policygate/policy",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := start(t, podman, image, tc.name, tc.args, tc.env)
			ready := c.waitReady(t)
			if ready.Details.Policy.Source != tc.wantSource {
				t.Errorf("/readyz policy source = %q, want %q", ready.Details.Policy.Source, tc.wantSource)
			}
			c.checkRoutes(t)
			c.stop(t)
		})
	}
	t.Run("kubernetes_pod", func(t *testing.T) { testKubernetesPod(t, podman, image, kubePolicy) })

	t.Run("version", func(t *testing.T) {
		out := strings.TrimSpace(run(t, podman, append(append([]string{"run", "--rm"}, runOptions()...), image, "--version")...))
		want := "policygate " + os.Getenv("POLICYGATE_VERSION") // stamped by deploy/build-image.sh
		if !strings.HasPrefix(out, want) {
			t.Errorf("--version = %q, want it to start with %q", out, want)
		}
		if rev := os.Getenv("POLICYGATE_REVISION"); rev != "" && !strings.HasSuffix(out, "revision "+rev+")") {
			t.Errorf("--version = %q, want the revision %s the build stamped", out, rev)
		}
	})
}

// container is one running policygate container.
type container struct {
	podman, name string
	url          string // LISTEN_ADDR
	admin        string // where /healthz and /readyz are: ADMIN_ADDR, or url
}

func start(t *testing.T, podman, image, name string, args, env []string) *container {
	t.Helper()
	c := &container{podman: podman, name: fmt.Sprintf("policygate-test-%s-%d", strings.ReplaceAll(name, "_", "-"), os.Getpid())}
	addr := freeLoopbackAddr(t)
	c.url = "http://" + addr
	c.admin = c.url
	cmd := []string{"run", "--detach", "--name", c.name, "--network=host", "--stop-timeout", fmt.Sprint(stopTimeout)}
	cmd = append(cmd, runOptions()...)
	cmd = append(cmd, args...)
	for _, e := range append([]string{"LISTEN_ADDR=" + addr}, env...) {
		cmd = append(cmd, "--env", e)
	}
	cmd = append(cmd, image, "--dev")
	run(t, podman, "rm", "--force", "--ignore", c.name) // a leftover of an interrupted run
	run(t, podman, cmd...)
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := podmanOutput(podman, "logs", c.name)
			t.Logf("logs of %s:\n%s", c.name, logs)
		}
		if out, err := podmanOutput(podman, "rm", "--force", "--ignore", c.name); err != nil {
			t.Logf("podman rm %s: %v\n%s", c.name, err, out)
		}
	})
	return c
}

// readiness is the part of /readyz the test reads.
type readiness struct {
	Status  string `json:"status"`
	Details struct {
		Policy struct {
			Source      string `json:"source"`
			Revision    string `json:"revision"`
			Activations int    `json:"activations"`
		} `json:"policy"`
	} `json:"details"`
}

// waitReady polls /readyz until 200, the container's exit, or readyWait.
func (c *container) waitReady(t *testing.T) readiness {
	t.Helper()
	var r readiness
	var last string
	if !testwait.Until(readyWait, func() bool {
		code, body, err := get(c.admin+"/readyz", "")
		if err == nil && code == http.StatusOK {
			if err := json.Unmarshal(body, &r); err != nil {
				t.Fatalf("/readyz body %s: %v", body, err)
			}
			return true
		}
		last = fmt.Sprintf("%d %s %v", code, body, err)
		if state, _ := podmanOutput(c.podman, "inspect", "--format", "{{.State.Status}}", c.name); strings.TrimSpace(state) == "exited" {
			t.Fatalf("container exited before it was ready (last /readyz: %s)", last)
		}
		return false
	}) {
		t.Fatalf("not ready after %v (last /readyz: %s)", readyWait, last)
	}
	return r
}

// checkRoutes asks the dev issuer for tokens and tries the built-in routes.
func (c *container) checkRoutes(t *testing.T) {
	t.Helper()
	plain := c.token(t, "")
	scoped := c.token(t, "read:messages")
	routes := []struct {
		name, url, token string
		want             int
	}{
		{name: "healthz", url: c.admin + "/healthz", want: http.StatusOK},
		{name: "public", url: c.url + "/api/public", want: http.StatusOK},
		{name: "private_without_token", url: c.url + "/api/private", want: http.StatusUnauthorized},
		{name: "private_with_token", url: c.url + "/api/private", token: plain, want: http.StatusOK},
		{name: "scoped_without_scope", url: c.url + "/api/private-scoped", token: plain, want: http.StatusForbidden},
		{name: "scoped_with_scope", url: c.url + "/api/private-scoped", token: scoped, want: http.StatusOK},
	}
	for _, r := range routes {
		code, body, err := get(r.url, r.token)
		if err != nil {
			t.Errorf("%s: GET %s: %v", r.name, r.url, err)
			continue
		}
		if code != r.want {
			t.Errorf("%s: GET %s = %d %s, want %d", r.name, r.url, code, body, r.want)
		}
	}
}

func (c *container) token(t *testing.T, scope string) string {
	t.Helper()
	code, body, err := get(c.url+"/dev/token?scope="+scope, "")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /dev/token?scope=%s = %d %s %v", scope, code, body, err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("/dev/token body %s: %v", body, err)
	}
	return tok.AccessToken
}

// stop sends SIGTERM (podman stop) and wants a clean exit: status 0, well
// before podman's own deadline would kill the process.
func (c *container) stop(t *testing.T) {
	t.Helper()
	run(t, c.podman, "stop", "--time", fmt.Sprint(stopTimeout), c.name)
	out := run(t, c.podman, "inspect", "--format", "{{.State.ExitCode}}", c.name)
	if got := strings.TrimSpace(out); got != "0" {
		t.Errorf("exit code after SIGTERM = %s, want 0", got)
	}
}

func get(url, token string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, bytes.TrimSpace(body), err
}

// freeLoopbackAddr is a port nothing listens on right now. The container
// binds it a moment later; with --network=host no port mapping exists to
// reserve it for us.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func findPodman(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("podman")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("podman not found; CI=true needs it (apt-get install podman buildah runc)")
		}
		t.Skip("podman not found: container test skipped")
	}
	return p
}

func run(t *testing.T, podman string, args ...string) string {
	t.Helper()
	out, err := podmanOutput(podman, args...)
	if err != nil {
		t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func podmanOutput(podman string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), podmanTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, podman, args...).CombinedOutput()
	return string(out), err
}
