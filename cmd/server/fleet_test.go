package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/policygate/policygate/internal/authn/authntest"
	"github.com/policygate/policygate/internal/authz/authztest"
	"github.com/policygate/policygate/internal/proxytest"
	"github.com/policygate/policygate/internal/testfile"
	"github.com/policygate/policygate/internal/testwait"
)

// Polling of the replicas' bundle plugin; the waits below allow several
// rounds, so only a broken fleet runs into them.
const (
	fleetMinDelay = 1
	fleetMaxDelay = 2
	fleetWait     = 10 * fleetMaxDelay * time.Second
)

// TestFleet is the operator's story: one bundle server (nginx, a real
// static file server), two replicas of the real binary sharing one
// OPA_CONFIG. Both switch from v1 to v2 within a few polling intervals;
// a tampered and an unsigned bundle are never activated.
func TestFleet(t *testing.T) {
	nginx := proxytest.FindNginx(t)
	bin := buildServer(t)
	key := authztest.NewSigningKey(t)
	www := t.TempDir()
	cdn := startNginx(t, nginx, www)
	p := authntest.NewProvider(t)

	config := filepath.Join(t.TempDir(), "opa.json")
	testfile.Write(t, config, fmt.Sprintf(`{
		"services": {"cdn": {"url": "${BUNDLE_SERVER}"}},
		"keys": {%q: {"algorithm": "RS256", "key": %q}},
		"bundles": {"authz": {
			"service": "cdn", "resource": "bundles/authz.tar.gz",
			"signing": {"keyid": %q},
			"polling": {"min_delay_seconds": %d, "max_delay_seconds": %d}
		}}
	}`, authztest.KeyID, key.PublicPEM(t), authztest.KeyID, fleetMinDelay, fleetMaxDelay))
	env := []string{
		"LISTEN_ADDR=127.0.0.1:0", "AUTH_ISSUER=" + p.Issuer, "AUTH_AUDIENCE=" + authntest.Audience,
		"OPA_CONFIG=" + config, "BUNDLE_SERVER=" + cdn, "DECISION_LOG=stdout",
	}
	replicas := []*replica{startReplica(t, bin, env), startReplica(t, bin, env)}

	// No bundle yet: not ready, and requests get 503, not a decision.
	for i, r := range replicas {
		code, body := readyzAt(t, r.url)
		if code != 503 || !strings.Contains(body.Checks["policy"], "no policy is active") {
			t.Errorf("replica %d: /readyz = %d %v before any bundle, want 503 naming the policy", i, code, body.Checks)
		}
		if got, _ := get(t, r.url+"/api/public", ""); got != 503 {
			t.Errorf("replica %d: GET /api/public = %d before any bundle, want 503", i, got)
		}
	}

	src := copyPolicies(t)
	token := p.Token(t, map[string]any{"scope": "read:messages"})
	publish := func(o authztest.Options) {
		t.Helper()
		publishBundle(t, www, authztest.Build(t, src, o))
	}

	testfile.Write(t, filepath.Join(src, "authz", "data.json"), routesJSON("read:messages"))
	publish(authztest.Options{Revision: "v1", Key: key})
	waitFleet(t, replicas, "v1", func(r *replica) bool { return r.status(t, token) == 200 })

	testfile.Write(t, filepath.Join(src, "authz", "data.json"), routesJSON("write:messages"))
	publish(authztest.Options{Revision: "v2", Key: key})
	waitFleet(t, replicas, "v2", func(r *replica) bool { return r.status(t, token) == 403 })

	// The decision log line of a replica names the bundle revision.
	req, _ := http.NewRequest("GET", replicas[0].url+"/api/private-scoped", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if line := replicas[0].decisionLine(t, resp.Header.Get("X-Decision-Id")); !strings.Contains(line, `"bundles":{"authz":{"revision":"v2"}}`) {
		t.Errorf("decision log line = %s, want bundle authz at revision v2", line)
	}

	refused := []struct {
		name    string
		opts    authztest.Options
		wantErr string
	}{
		{"tampered", authztest.Options{Revision: "v3-tampered", Key: key, Tamper: func(data map[string]any) {
			routes := data["authz"].(map[string]any)["routes"].(map[string]any)
			routes["/api/private-scoped"] = map[string]any{"GET": map[string]any{"access": "public"}}
		}}, "digest mismatch"},
		{"unsigned", authztest.Options{Revision: "v3-unsigned"}, ".signatures.json"},
	}
	for _, tt := range refused {
		publish(tt.opts)
		// Each replica has fetched it once it reports the refusal.
		waitFleet(t, replicas, "", func(r *replica) bool {
			_, body := readyzAt(t, r.url)
			return strings.Contains(body.Details.Policy.LastError, tt.wantErr)
		})
		for i, r := range replicas {
			code, body := readyzAt(t, r.url)
			if code != 200 || body.Details.Policy.Revision != "v2" {
				t.Errorf("%s: replica %d: /readyz = %d revision %q, want 200 and v2 kept", tt.name, i, code, body.Details.Policy.Revision)
			}
			if got := r.status(t, token); got != 403 {
				t.Errorf("%s: replica %d: GET /api/private-scoped = %d, want v2's 403", tt.name, i, got)
			}
		}
	}
}

// buildServer builds the real binary.
func buildServer(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go is not in PATH: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "policygate")
	out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startNginx serves root on a free loopback port and returns its URL.
func startNginx(t *testing.T, nginx, root string) string {
	t.Helper()
	addr := proxytest.FreeAddr(t)
	proxytest.RunNginx(t, nginx, fmt.Sprintf(`	types { application/gzip gz; }
	server {
		listen %s;
		root %s;
	}`, addr, root), addr)
	return "http://" + addr
}

// publishBundle replaces the served bundle atomically, with an mtime of
// its own: nginx's ETag is mtime (in seconds) and size, so two bundles
// published within a second could otherwise look unchanged.
var published int

func publishBundle(t *testing.T, www string, archive []byte) {
	t.Helper()
	dir := filepath.Join(www, "bundles")
	os.MkdirAll(dir, 0o755)
	tmp := filepath.Join(dir, ".authz.tar.gz.tmp")
	testfile.Write(t, tmp, string(archive))
	published++
	mtime := time.Now().Add(time.Duration(published) * time.Hour)
	if err := os.Chtimes(tmp, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "authz.tar.gz")); err != nil {
		t.Fatal(err)
	}
}

// replica is one running policygate binary.
type replica struct {
	url            string
	stdout, stderr *syncBuffer
}

func startReplica(t *testing.T, bin string, env []string) *replica {
	t.Helper()
	r := &replica{stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	cmd := exec.Command(bin)
	cmd.Env, cmd.Dir = env, t.TempDir()
	cmd.Stdout, cmd.Stderr = r.stdout, r.stderr
	p := proxytest.Start(t, cmd)
	if !p.Until(t, 30*time.Second, func() bool {
		if m := listeningRE.FindStringSubmatch(r.stderr.String()); m != nil {
			r.url = "http://" + m[1]
			return true
		}
		return false
	}) {
		t.Fatalf("replica does not listen within 30s:\n%s", r.stderr.String())
	}
	return r
}

// status is the replica's answer to the scoped route with token.
func (r *replica) status(t *testing.T, token string) int {
	t.Helper()
	got, _ := get(t, r.url+"/api/private-scoped", token)
	return got
}

// decisionLine is the replica's decision-log line with the given id.
func (r *replica) decisionLine(t *testing.T, id string) string {
	t.Helper()
	// The replica writes the line before it answers, but it reaches us
	// through a pipe: give the copy a bounded while.
	var found string
	if !testwait.Until(10*time.Second, func() bool {
		for line := range strings.Lines(r.stdout.String()) {
			var ev struct {
				DecisionID string `json:"decision_id"`
			}
			if json.Unmarshal([]byte(line), &ev) == nil && ev.DecisionID == id && id != "" {
				found = strings.TrimSpace(line)
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no decision-log line with decision_id %q within 10s", id)
	}
	return found
}

func readyzAt(t *testing.T, url string) (int, readyBody) {
	t.Helper()
	return readyz(t, &server{url: url})
}

// waitFleet waits until every replica is ready at revision (unless "")
// and cond holds for it.
func waitFleet(t *testing.T, replicas []*replica, revision string, cond func(*replica) bool) {
	t.Helper()
	deadline := time.Now().Add(fleetWait)
	for i, r := range replicas {
		var code int
		var body readyBody
		if !testwait.Until(time.Until(deadline), func() bool {
			code, body = readyzAt(t, r.url)
			return (revision == "" || code == 200 && body.Details.Policy.Revision == revision) && cond(r)
		}) {
			t.Fatalf("replica %d not at %q within %s: /readyz %d %+v\n%s", i, revision, fleetWait, code, body, lastLines(r.stderr.String(), 10))
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
