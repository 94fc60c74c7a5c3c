package authz

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestWithBundleSizeLimits(t *testing.T) {
	tests := []struct {
		name  string
		limit string // the bundle's size_limit_bytes as JSON, "" for none
		want  int64
	}{
		{name: "none", want: defaultBundleFileBytes},
		{name: "null", limit: "null", want: defaultBundleFileBytes},
		{name: "zero", limit: "0", want: defaultBundleFileBytes},
		{name: "negative", limit: "-1", want: defaultBundleFileBytes},
		{name: "own", limit: "104857600", want: 104857600},
	}
	// A value of another type is left for OPA to refuse at start.
	for _, bad := range []string{`"100000000"`, `true`} {
		out, err := withBundleSizeLimits([]byte(`{"bundles": {"authz": {"size_limit_bytes": ` + bad + `}}}`))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), `"size_limit_bytes":`+bad) {
			t.Errorf("size_limit_bytes %s became %s, want it left for OPA to refuse", bad, out)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			field := ""
			if tt.limit != "" {
				field = `, "size_limit_bytes": ` + tt.limit
			}
			out, err := withBundleSizeLimits([]byte(`{"bundles": {"authz": {"service": "s"` + field + `}}}`))
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Bundles map[string]struct {
					SizeLimitBytes int64 `json:"size_limit_bytes"`
				} `json:"bundles"`
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			if got.Bundles["authz"].SizeLimitBytes != tt.want {
				t.Errorf("size_limit_bytes = %d, want %d (%s)", got.Bundles["authz"].SizeLimitBytes, tt.want, out)
			}
		})
	}
}

func TestPollsOf(t *testing.T) {
	polls, count, err := pollsOf([]byte(`{"bundles": {
		"polled": {"service": "s", "polling": {"max_delay_seconds": 20}},
		"default": {"service": "s"},
		"long": {"service": "s", "polling": {"max_delay_seconds": 10, "long_polling_timeout_seconds": 30}},
		"manual": {"service": "s", "trigger": "manual"},
		"file": {"resource": "file:///etc/policygate/bundle.tar.gz"},
		"file_one_slash": {"resource": "file:/etc/policygate/bundle.tar.gz"},
		"file_upper": {"resource": "FILE:///etc/policygate/bundle.tar.gz"}
	}}`))
	if err != nil {
		t.Fatal(err)
	}
	if count != 7 {
		t.Errorf("count = %d, want 7", count)
	}
	got := map[string]time.Duration{}
	for _, p := range polls {
		got[p.name] = p.limit
	}
	want := map[string]time.Duration{"polled": 70 * time.Second, "default": 370 * time.Second, "long": 130 * time.Second}
	if len(got) != len(want) {
		t.Errorf("polled bundles = %v, want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
	for name, limit := range want {
		if got[name] != limit {
			t.Errorf("%s: limit %s, want %s", name, got[name], limit)
		}
	}
}
