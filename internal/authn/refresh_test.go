package authn

import (
	"testing"
	"time"
)

// TestCacheMaxAge: the provider's Cache-Control says how long its keys
// may be kept; anything unusable says nothing (-1), and no-cache or
// no-store asks for the shortest refresh (0).
func TestCacheMaxAge(t *testing.T) {
	tests := []struct {
		name   string
		header string
		want   time.Duration
	}{
		{name: "absent", header: "", want: -1},
		{name: "max_age", header: "public, max-age=300", want: 300 * time.Second},
		{name: "max_age_upper_case", header: "Public, MAX-AGE=60", want: time.Minute},
		{name: "max_age_quoted", header: `max-age="60"`, want: time.Minute},
		{name: "max_age_capped_at_a_year", header: "max-age=999999999999", want: 365 * 24 * time.Hour},
		{name: "max_age_negative", header: "max-age=-5", want: -1},
		{name: "max_age_not_a_number", header: "max-age=soon", want: -1},
		{name: "no_cache", header: "no-cache", want: 0},
		{name: "no_store", header: "private, no-store", want: 0},
		{name: "no_cache_before_max_age", header: "no-cache, max-age=600", want: 0},
		{name: "nothing_usable", header: "private, must-revalidate", want: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := cacheMaxAge(tc.header); got != tc.want {
				t.Errorf("cacheMaxAge(%q) = %v, want %v", tc.header, got, tc.want)
			}
		})
	}
}

// TestRefreshInterval: the provider's max-age sets the refresh, within
// MinRefresh and MaxRefresh; without one, DefaultRefresh applies.
func TestRefreshInterval(t *testing.T) {
	k := NewKeySet(KeySetConfig{JWKSURL: "https://idp.example/jwks.json",
		MinRefresh: time.Minute, MaxRefresh: time.Hour, DefaultRefresh: 15 * time.Minute})
	tests := []struct {
		name   string
		maxAge time.Duration
		want   time.Duration
	}{
		{name: "no_max_age", maxAge: -1, want: 15 * time.Minute},
		{name: "no_cache", maxAge: 0, want: time.Minute},
		{name: "below_min", maxAge: 30 * time.Second, want: time.Minute},
		{name: "within_bounds", maxAge: 10 * time.Minute, want: 10 * time.Minute},
		{name: "above_max", maxAge: 2 * time.Hour, want: time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := k.refreshInterval(tc.maxAge); got != tc.want {
				t.Errorf("refreshInterval(%v) = %v, want %v", tc.maxAge, got, tc.want)
			}
		})
	}
}
