package authz_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/policygate/policygate/internal/authz"
)

// The engine's /readyz check and metrics: what cmd/server wires as is.
func TestReadinessAndMetrics(t *testing.T) {
	t.Run("active_folder", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		e, err := authz.New(context.Background(), authz.Config{PolicyDir: "../../policies", Metrics: reg})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Stop(context.Background()) })
		awaitPolicy(t, e)
		check, details := e.ReadinessCheck()
		if err := check(); err != nil {
			t.Errorf("check() = %v, want nil", err)
		}
		d := details()
		if d["source"] != "../../policies" || d["revision"] != e.Revision() || d["activations"] != uint64(1) || d["activated_at"] == nil || d["last_error"] != nil {
			t.Errorf("details() = %v, want the folder, its revision, one activation, no error", d)
		}
		got := gather(t, reg)
		for name, want := range map[string]float64{
			"policygate_policy_activations_total":                                             1,
			"policygate_policy_reload_failures_total":                                         0,
			`policygate_policy_info{revision="` + e.Revision() + `",source="../../policies"}`: 1,
			`policygate_decision_cache_lookups_total{result="hit"}`:                           0,
			`policygate_decision_cache_lookups_total{result="miss"}`:                          0,
		} {
			if v, ok := got[name]; !ok || v != want {
				t.Errorf("metric %s = %v (present %v), want %v", name, v, ok, want)
			}
		}
		if _, ok := got["policygate_policy_last_activation_timestamp_seconds"]; !ok {
			t.Errorf("policygate_policy_last_activation_timestamp_seconds missing from %v", got)
		}
	})
	t.Run("bundles_not_loaded", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		e, err := authz.New(context.Background(), authz.Config{Metrics: reg, OPAConfig: []byte(`{"services":{"s":{"url":"http://127.0.0.1:1"}},"bundles":{"authz":{"service":"s","resource":"b.tar.gz","trigger":"manual"}}}`)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Stop(context.Background()) })
		check, details := e.ReadinessCheck()
		if err := check(); err == nil || !strings.HasPrefix(err.Error(), "no policy is active yet") {
			t.Errorf("check() = %v, want no policy is active yet", err)
		}
		if d := details(); d["source"] != "bundles" || d["revision"] != "" || d["activated_at"] != nil {
			t.Errorf("details() = %v, want bundles, no revision", d)
		}
		got := gather(t, reg)
		if _, ok := got["policygate_policy_info"]; ok {
			t.Errorf("policygate_policy_info present before any activation: %v", got)
		}
		if got["policygate_policy_activations_total"] != 0 {
			t.Errorf("policygate_policy_activations_total = %v, want 0", got["policygate_policy_activations_total"])
		}
	})
}

// gather returns the registry's samples by name{labels}, labels sorted.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	samples := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			name := f.GetName()
			if len(m.GetLabel()) > 0 {
				var labels []string
				for _, l := range m.GetLabel() {
					labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
				}
				name += "{" + strings.Join(labels, ",") + "}"
			}
			samples[name] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return samples
}

// TestReadinessRedactsURLs: /readyz may be public, so a bundle URL with a
// signed query (a presigned or SAS URL) in the error it reports loses its
// query there.
func TestReadinessRedactsURLs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: every download fails with the URL in its error
	config := fmt.Appendf(nil, `{
		"services": {"cdn": {"url": "http://%s"}},
		"bundles": {"authz": {"service": "cdn", "resource": "authz.tar.gz?sv=2025&sig=S3CRET", "polling": {"min_delay_seconds": 1, "max_delay_seconds": 1}}}
	}`, addr)
	e, err := authz.New(context.Background(), authz.Config{OPAConfig: config})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Stop(context.Background()) })
	check, details := e.ReadinessCheck()
	deadline := time.Now().Add(20 * time.Second)
	for e.Status().LastError == "" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(e.Status().LastError, "S3CRET") {
		t.Fatalf("the engine's own error %q does not name the URL; the test proves nothing", e.Status().LastError)
	}
	cerr := check()
	d := details()
	if cerr == nil || d["last_error"] == nil {
		t.Fatalf("check() = %v, details() = %v; want the download error", cerr, d)
	}
	for _, s := range []string{cerr.Error(), fmt.Sprint(d["last_error"])} {
		if strings.Contains(s, "S3CRET") || !strings.Contains(s, addr) {
			t.Errorf("readiness says %q: want the host and path without the query", s)
		}
	}
}
