package main

import (
	"context"
	"testing"
)

func TestGCPercent(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name       string
		live, want uint64
	}{
		{name: "nothing_live_yet", live: 0, want: 100},
		{name: "tiny_heap_capped", live: 1 * mib, want: 300},
		{name: "small_heap_capped", live: 4 * mib, want: 300},
		{name: "small_heap_reaches_floor", live: 9 * mib, want: 255},
		{name: "bench_heap", live: 13 * mib, want: 146},
		{name: "half_the_floor", live: 16 * mib, want: 100},
		{name: "large_heap_default", live: 40 * mib, want: 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := gcPercent(tt.live, 32*mib); got != int(tt.want) {
				t.Errorf("gcPercent(%d MiB, 32 MiB) = %d, want %d", tt.live/mib, got, tt.want)
			}
		})
	}
}

// The floor never overrides the operator's GOGC or GOMEMLIMIT.
func TestGCFloorLeavesOperatorSettings(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  map[string]string
		want bool
	}{
		{name: "nothing_set", env: nil, want: true},
		{name: "gogc_set", env: map[string]string{"GOGC": "200"}, want: false},
		{name: "gomemlimit_set", env: map[string]string{"GOMEMLIMIT": "256MiB"}, want: false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel() // ends the floor, which restores Go's default
			if got := startGCFloor(ctx, func(k string) string { return tt.env[k] }); got != tt.want {
				t.Errorf("startGCFloor(%v) = %v, want %v", tt.env, got, tt.want)
			}
		})
	}
}
