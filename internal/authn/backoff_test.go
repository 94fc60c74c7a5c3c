package authn

import (
	"testing"
	"time"
)

// TestRetryDelay: failed key fetches back off exponentially with equal
// jitter, so replicas that saw the same outage spread their retries.
func TestRetryDelay(t *testing.T) {
	const maxDelay = 4 * time.Second
	fixed := func(v float64) func() float64 { return func() float64 { return v } }
	tests := []struct {
		name     string
		failures int
		random   float64
		want     time.Duration
	}{
		{name: "first_low", failures: 0, random: 0, want: 125 * time.Millisecond},
		{name: "first_mid", failures: 0, random: 0.5, want: 187500 * time.Microsecond},
		{name: "first_high", failures: 0, random: 0.999, want: 249875 * time.Microsecond},
		{name: "second_low", failures: 1, random: 0, want: 250 * time.Millisecond},
		{name: "fifth_mid", failures: 4, random: 0.5, want: 3 * time.Second},
		{name: "capped_low", failures: 5, random: 0, want: 2 * time.Second},
		{name: "capped_high", failures: 50, random: 0.999, want: 3998 * time.Millisecond},
		{name: "many_failures_no_overflow", failures: 1 << 20, random: 0.25, want: 2500 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := retryDelay(tc.failures, maxDelay, fixed(tc.random)); got != tc.want {
				t.Errorf("retryDelay(%d, %v, %v) = %v, want %v", tc.failures, maxDelay, tc.random, got, tc.want)
			}
		})
	}
}

// TestRetryDelaySpread: two replicas with different random sources do not
// retry in lock-step, and every delay stays in [d/2, d).
func TestRetryDelaySpread(t *testing.T) {
	seq := func(values ...float64) func() float64 {
		i := 0
		return func() float64 { v := values[i%len(values)]; i++; return v }
	}
	a, b := seq(0.1, 0.7, 0.3, 0.9), seq(0.8, 0.2, 0.6, 0.05)
	same := 0
	for n := range 4 {
		da, db := retryDelay(n, 30*time.Second, a), retryDelay(n, 30*time.Second, b)
		d := firstRetryDelay << n
		for _, got := range []time.Duration{da, db} {
			if got < d/2 || got >= d {
				t.Errorf("retryDelay(%d) = %v, want within [%v, %v)", n, got, d/2, d)
			}
		}
		if da == db {
			same++
		}
	}
	if same > 0 {
		t.Errorf("%d of 4 retries at the same moment for different random sources, want none", same)
	}
}

// TestKeySetRandDefault: without a Rand the key set draws its own jitter.
func TestKeySetRandDefault(t *testing.T) {
	k := NewKeySet(KeySetConfig{JWKSURL: "https://idp.example/jwks.json"})
	if k.cfg.Rand == nil {
		t.Fatal("KeySetConfig.Rand is nil after defaults")
	}
	if v := k.cfg.Rand(); v < 0 || v >= 1 {
		t.Errorf("Rand() = %v, want [0, 1)", v)
	}
}
