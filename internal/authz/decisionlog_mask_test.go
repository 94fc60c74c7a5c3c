package authz_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/policygate/policygate/internal/authz"
	"github.com/policygate/policygate/internal/authz/authztest"
	"github.com/policygate/policygate/internal/testfile"
)

// withMask adds the shipped decision-log mask to a policy folder's files.
func withMask(t *testing.T, files map[string]string) map[string]string {
	files["system/log/mask.rego"] = mustRead(t, "../../policies/system/log/mask.rego")
	files["system/log/data.json"] = mustRead(t, "../../policies/system/log/data.json")
	return files
}

// maskless is a policy folder's files without data.system.log.mask.
func maskless(t *testing.T) map[string]string {
	return map[string]string{
		"authz/authz.rego": mustRead(t, "../../policies/authz/authz.rego"),
		"authz/data.json":  `{"routes": {"/mail": {"GET": {"access": "authenticated"}}}}`,
	}
}

// With decision logs on, OPA writes an event unmasked when the policy has
// no data.system.log.mask: such a version is refused, with what to add.
func TestDecisionLogNeedsMask(t *testing.T) {
	tests := []struct {
		name         string
		files        map[string]string
		decisionLogs bool
		wantErr      string
	}{
		{name: "logs_on_without_mask_refused", files: maskless(t), decisionLogs: true, wantErr: "decision logs are on but the policy does not define data.system.log.mask"},
		{name: "logs_on_with_mask", files: withMask(t, maskless(t)), decisionLogs: true},
		{name: "logs_off_without_mask", files: maskless(t)},
		{name: "logs_on_mask_as_data", decisionLogs: true, files: map[string]string{
			"authz/authz.rego":     mustRead(t, "../../policies/authz/authz.rego"),
			"authz/data.json":      `{"routes": {"/mail": {"GET": {"access": "authenticated"}}}}`,
			"system/log/data.json": `{"mask": ["/input/claims"]}`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var console bytes.Buffer
			e, err := authz.New(context.Background(), authz.Config{PolicyDir: testfile.Dir(t, tt.files), DecisionLogs: tt.decisionLogs, Console: &console})
			if tt.wantErr != "" {
				if err == nil {
					e.Stop(context.Background())
				}
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "policies/system/log/") {
					t.Fatalf("New() = %v, want an error containing %q and naming policies/system/log/", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { e.Stop(context.Background()) })
			awaitPolicy(t, e)
			in := authz.Input{Method: "GET", Path: []string{"mail"}, Claims: map[string]any{"sub": "a", "email": "alice@example.com"}, Scopes: []string{}}
			if d, err := e.Decide(context.Background(), in); err != nil || !d.Allowed {
				t.Fatalf("Decide() = %+v, %v; want allowed", d, err)
			}
			if strings.Contains(console.String(), "alice@example.com") {
				t.Errorf("the decision log holds the e-mail in clear:\n%s", console.String())
			}
		})
	}
}

// A fleet bundle without the mask is refused while OPA_CONFIG's
// decision_logs is on, and the previous version (or none) keeps serving.
func TestFleetDecisionLogNeedsMask(t *testing.T) {
	srv := newBundleServer(t)
	config := fmt.Appendf(nil, `{
		"services": {"cdn": {"url": %q}},
		"bundles": {"authz": {"service": "cdn", "resource": "bundles/authz.tar.gz", "trigger": "manual"}},
		"decision_logs": {"console": true}
	}`, srv.URL)
	var console bytes.Buffer
	e, err := authz.New(context.Background(), authz.Config{OPAConfig: config, Console: &console})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Stop(context.Background()) })
	in := authz.Input{Method: "GET", Path: []string{"mail"}, Claims: map[string]any{"sub": "a", "email": "alice@example.com"}, Scopes: []string{}}

	srv.publish(authztest.Build(t, testfile.Dir(t, maskless(t)), authztest.Options{Revision: "no-mask"}))
	if err := e.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), "data.system.log.mask") {
		t.Errorf("Reload() of a bundle without the mask = %v, want the mask named", err)
	}
	if _, err := e.Decide(context.Background(), in); !errors.Is(err, authz.ErrNotReady) {
		t.Errorf("Decide() after the refused bundle = %v, want ErrNotReady", err)
	}

	srv.publish(authztest.Build(t, testfile.Dir(t, withMask(t, maskless(t))), authztest.Options{Revision: "masked"}))
	if err := e.Reload(context.Background()); err != nil {
		t.Fatalf("Reload() of a bundle with the mask = %v", err)
	}
	awaitPolicy(t, e)
	if d, err := e.Decide(context.Background(), in); err != nil || !d.Allowed {
		t.Fatalf("Decide() = %+v, %v; want allowed", d, err)
	}
	if out := console.String(); strings.Contains(out, "alice@example.com") || !strings.Contains(out, `"masked"`) {
		t.Errorf("the decision log is not masked:\n%s", out)
	}
}
