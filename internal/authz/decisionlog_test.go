package authz_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/policygate/policygate/internal/authz"
	"github.com/policygate/policygate/internal/testfile"
)

// decisionLines parses console output into its decision-log events.
func decisionLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var events []map[string]any
	for line := range strings.Lines(out) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("console line is not one JSON object: %v\n%s", err, line)
		}
		if m["type"] == "openpolicyagent.org/decision_logs" {
			events = append(events, m)
		}
	}
	return events
}

// loggingEngine is the shipped policy with decision logs on, written to
// the returned buffer.
func loggingEngine(t *testing.T) (*authz.Engine, *bytes.Buffer) {
	t.Helper()
	return loggingEngineFor(t, "../../policies")
}

// loggingEngineFor is loggingEngine over the policy folder dir.
func loggingEngineFor(t *testing.T, dir string) (*authz.Engine, *bytes.Buffer) {
	t.Helper()
	var console bytes.Buffer
	e, err := authz.New(context.Background(), authz.Config{PolicyDir: dir, DecisionLogs: true, Console: &console})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Stop(context.Background()) })
	awaitPolicy(t, e)
	return e, &console
}

func TestDecisionLog(t *testing.T) {
	e, console := loggingEngine(t)

	const email, secret = "alice@example.com", "s3cr3t-value"
	claims := map[string]any{
		"sub": "auth0|alice", "iss": "https://tenant.example.com/", "scope": "read:messages",
		"email": email, "https://example.com/api_key": secret,
	}
	inputs := []authz.Input{
		{Method: "GET", Path: []string{"api", "private-scoped"}, Claims: claims, Scopes: []string{"read:messages"}},
		{Method: "GET", Path: []string{"api", "public"}},
		{Method: "GET", Path: []string{"api", "private"}},
	}
	var ids []string
	for _, in := range inputs {
		d, err := e.Decide(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.ID)
	}

	out := console.String()
	for _, s := range []string{email, secret} {
		if strings.Contains(out, s) {
			t.Errorf("decision log contains the claim value %q:\n%s", s, out)
		}
	}
	events := decisionLines(t, out)
	if len(events) != len(inputs) {
		t.Fatalf("got %d decision-log lines for %d decisions:\n%s", len(events), len(inputs), out)
	}
	for i, ev := range events {
		if ev["decision_id"] != ids[i] {
			t.Errorf("line %d: decision_id = %v, want the decision's id %s", i, ev["decision_id"], ids[i])
		}
		if ev["path"] != "authz/decision" {
			t.Errorf("line %d: path = %v, want authz/decision", i, ev["path"])
		}
		if ts, _ := ev["timestamp"].(string); ts == "" {
			t.Errorf("line %d: no timestamp", i)
		} else if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
			t.Errorf("line %d: timestamp %q: %v", i, ts, err)
		}
		bundles, _ := ev["bundles"].(map[string]any)
		authzBundle, _ := bundles["authz"].(map[string]any)
		if authzBundle["revision"] != e.Revision() || e.Revision() == "" {
			t.Errorf("line %d: bundles = %v, want authz at revision %s", i, ev["bundles"], e.Revision())
		}
		if m, _ := ev["metrics"].(map[string]any); len(m) == 0 {
			t.Errorf("line %d: no metrics", i)
		}
		result, _ := ev["result"].(map[string]any)
		if _, ok := result["allowed"].(bool); !ok {
			t.Errorf("line %d: result = %v, want the decision object", i, ev["result"])
		}
		input, _ := ev["input"].(map[string]any)
		if input["method"] != "GET" || input["path"] == nil {
			t.Errorf("line %d: input = %v, want method and path", i, ev["input"])
		}
	}

	// The authenticated decision: logged claims stay, the others are redacted.
	input := events[0]["input"].(map[string]any)
	logged, _ := input["claims"].(map[string]any)
	if logged["sub"] != "auth0|alice" || logged["scope"] != "read:messages" {
		t.Errorf("claims = %v, want sub and scope kept", logged)
	}
	for _, name := range []string{"email", "https://example.com/api_key"} {
		if logged[name] != "**REDACTED**" {
			t.Errorf("claims[%q] = %v, want **REDACTED**", name, logged[name])
		}
	}
	if masked, _ := events[0]["masked"].([]any); !slices.Contains(masked, any("/input/claims")) {
		t.Errorf("masked = %v, want /input/claims listed", events[0]["masked"])
	}
	if _, ok := events[1]["masked"]; ok {
		t.Errorf("anonymous decision masked %v; nothing to mask", events[1]["masked"])
	}
}

func TestDecisionLogOffByDefault(t *testing.T) {
	var console bytes.Buffer
	e, err := authz.New(context.Background(), authz.Config{PolicyDir: "../../policies", Console: &console})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Stop(context.Background()) })
	awaitPolicy(t, e)
	if _, err := e.Decide(context.Background(), authz.Input{Method: "GET", Path: []string{"api", "public"}}); err != nil {
		t.Fatal(err)
	}
	if events := decisionLines(t, console.String()); len(events) != 0 {
		t.Errorf("decision log is off by default, got %d lines", len(events))
	}
}

// BenchmarkDecideWithDecisionLog is BenchmarkDecide with DECISION_LOG on:
// the cost of the mask and of one JSON line per decision.
func BenchmarkDecideWithDecisionLog(b *testing.B) {
	e, err := authz.New(context.Background(), authz.Config{PolicyDir: "../../policies", DecisionLogs: true, Console: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Stop(context.Background()) })
	awaitPolicy(b, e)
	in := authz.Input{
		Method: "GET", Path: []string{"api", "private-scoped"},
		Claims: map[string]any{"sub": "auth0|alice", "iss": "https://tenant.example.com/", "aud": "https://api", "scope": "read:messages", "email": "alice@example.com"},
		Scopes: []string{"read:messages"},
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if d, err := e.Decide(ctx, in); err != nil || !d.Allowed {
			b.Fatalf("Decide() = %+v, %v", d, err)
		}
	}
}

// TestDecisionLogMasksBoundClaims: claims a rule binds (a condition, a
// header copy) are copied into input.bound.claims and into the result's
// headers; the log masks them there as in input.claims.
func TestDecisionLogMasksBoundClaims(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile("../../policies/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	dir := testfile.Dir(t, map[string]string{
		"authz/authz.rego":     read("authz/authz.rego"),
		"system/log/mask.rego": read("system/log/mask.rego"),
		"system/log/data.json": read("system/log/data.json"),
		"authz/data.json": `{"headers": ["X-Auth-Email"], "routes": {"/mail": {"GET": {"access": "authenticated",
			"claims": {"email": {"equals": "alice@example.com"}, "https://example.com/api_key": {"contains_any": ["s3cr3t-value"]}},
			"headers": {"X-Auth-Email": {"claim": "email"}}}}}}`,
	})
	e, console := loggingEngineFor(t, dir)

	claims := map[string]any{"sub": "auth0|alice", "email": "alice@example.com", "https://example.com/api_key": "s3cr3t-value"}
	d, err := e.Decide(context.Background(), authz.Input{Method: "GET", Path: []string{"mail"}, Claims: claims, Scopes: []string{}})
	if err != nil || !d.Allowed || d.Headers["X-Auth-Email"] != "alice@example.com" {
		t.Fatalf("Decide() = %+v, %v; want an allow setting X-Auth-Email", d, err)
	}
	events := decisionLines(t, console.String())
	if len(events) != 1 {
		t.Fatalf("%d decision-log events, want 1:\n%s", len(events), console.String())
	}
	line, _ := json.Marshal(events[0])
	for _, value := range []string{"alice@example.com", "s3cr3t-value"} {
		if strings.Contains(string(line), value) {
			t.Errorf("the decision log holds the claim value %q:\n%s", value, line)
		}
	}
	for _, path := range []string{"/input/claims", "/input/bound/claims", "/result/headers"} {
		if !strings.Contains(string(line), `"`+path+`"`) {
			t.Errorf("erased/masked paths lack %s:\n%s", path, line)
		}
	}
	if !strings.Contains(string(line), `"sub":"auth0|alice"`) {
		t.Errorf("the logged claim sub is missing:\n%s", line)
	}
}

// A built-in error in custom Rego is an engine error: Decide fails (the
// gate denies) and the decision log records the error, not a decision.
func TestDecisionLogBuiltinError(t *testing.T) {
	dir := testfile.Dir(t, withMask(t, map[string]string{
		"authz/authz.rego":  mustRead(t, "../../policies/authz/authz.rego"),
		"authz/custom.rego": "package authz\n\ncustom_denials contains \"over_quota\" if to_number(input.claims.quota) < 0\n",
		"authz/data.json":   `{"routes": {"/notes": {"*": {"access": "authenticated"}}}}`,
	}))
	e, console := loggingEngineFor(t, dir)
	in := authz.Input{Method: "POST", Path: []string{"notes"}, Claims: map[string]any{"sub": "a", "quota": "abc"}}
	if d, err := e.Decide(context.Background(), in); err == nil {
		t.Fatalf("Decide() = %+v, nil error; want the built-in error", d)
	}
	events := decisionLines(t, console.String())
	if len(events) != 1 {
		t.Fatalf("got %d decision-log events, want 1:\n%s", len(events), console.String())
	}
	msg, _ := json.Marshal(events[0]["error"])
	if _, ok := events[0]["result"]; ok || !strings.Contains(string(msg), "to_number") {
		t.Errorf("event result %v, error %s; want no result and the to_number error", events[0]["result"], msg)
	}
}
