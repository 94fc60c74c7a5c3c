package authz

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/policygate/policygate/internal/testfile"
)

// With several audiences configured, every table must name the audiences
// it accepts: activation refuses a version that does not, naming the
// table; a fresh start fails and a reload keeps the previous version.
func TestSeveralAudiencesMustBeNamed(t *testing.T) {
	auds := []string{"https://a.api.test", "https://b.api.test"}
	const named = `{"audiences": ["https://a.api.test"], "routes": {"/data": {"GET": {"access": "authenticated"}}},
		"hosts": {"b.example.com": {"audiences": ["https://b.api.test"], "routes": {"/data": {"GET": {"access": "authenticated"}}}}}}`
	tests := []struct {
		name     string
		data     string
		auds     []string
		wantErrs []string // each must appear; none: accepted
	}{
		{name: "all_named", data: named, auds: auds},
		{name: "one_audience_needs_nothing", data: `{"routes": {"/data": {"GET": {"access": "public"}}}}`, auds: auds[:1]},
		{name: "same_audience_twice_is_one", data: `{"routes": {"/data": {"GET": {"access": "public"}}}}`, auds: []string{auds[0], auds[0]}},
		{name: "default_table_unnamed", data: `{"routes": {"/data": {"GET": {"access": "public"}}}}`, auds: auds,
			wantErrs: []string{"routes (the default table: data.authz.audiences): several audiences are configured"}},
		{name: "host_table_unnamed", data: `{"audiences": ["https://a.api.test"], "routes": {}, "hosts": {"b.example.com": {"routes": {}}}}`, auds: auds,
			wantErrs: []string{`hosts["b.example.com"]: several audiences are configured`}},
		{name: "audience_not_configured", data: `{"audiences": ["https://a.api.tset"], "routes": {}}`, auds: auds,
			wantErrs: []string{`audience "https://a.api.tset" is not configured`}},
		{name: "default_audiences_without_table", data: `{"audiences": ["https://a.api.test"], "hosts": {"b.example.com": {"audiences": ["https://b.api.test"], "routes": {}}}}`, auds: auds,
			wantErrs: []string{"issuers or audiences without a default table"}},
		{name: "default_audiences_not_strings", data: `{"audiences": "https://a.api.test", "routes": {}}`,
			wantErrs: []string{`data.authz: "audiences" must be a non-empty array of strings`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := testfile.Dir(t, map[string]string{"authz/authz.rego": shippedRego(t), "authz/data.json": tt.data})
			e, err := New(context.Background(), Config{PolicyDir: dir, Audiences: tt.auds})
			if e != nil {
				defer e.Stop(context.Background())
			}
			if len(tt.wantErrs) == 0 {
				if err != nil {
					t.Fatalf("New() = %v, want it to start", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("New() started, want a refusal naming %q", tt.wantErrs)
			}
			for _, want := range tt.wantErrs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("New() = %v, want it to name %q", err, want)
				}
			}
		})
	}
}

// A reload to a version that leaves a table unnamed is refused; the
// previous version keeps serving and the refusal names the table.
func TestSeveralAudiencesReloadRefused(t *testing.T) {
	const good = `{"audiences": ["https://a"], "routes": {"/data": {"GET": {"access": "authenticated"}}}}`
	dir := testfile.Dir(t, map[string]string{"authz/authz.rego": shippedRego(t), "authz/data.json": good})
	e := engineFor(t, nil, Config{PolicyDir: dir, Audiences: []string{"https://a", "https://b"}})
	in := func(aud string) Input {
		return Input{Method: "GET", Path: []string{"data"}, Claims: map[string]any{"sub": "s", "aud": aud}}
	}
	if d := decide(t, e, in("https://b")); d.Reason != ReasonAudienceRefused {
		t.Fatalf("token for b on a's table: %+v, want %s", d, ReasonAudienceRefused)
	}
	testfile.Write(t, filepath.Join(dir, "authz/data.json"), `{"routes": {"/data": {"GET": {"access": "authenticated"}}}}`)
	err := e.Reload(context.Background())
	if err == nil || !strings.Contains(err.Error(), "default table") {
		t.Fatalf("Reload() = %v, want a refusal naming the default table", err)
	}
	if d := decide(t, e, in("https://b")); d.Reason != ReasonAudienceRefused {
		t.Errorf("after the refused reload: %+v, want the previous version (%s)", d, ReasonAudienceRefused)
	}
	if d := decide(t, e, in("https://a")); !d.Allowed {
		t.Errorf("token for a after the refused reload: %+v, want allowed", d)
	}
}
