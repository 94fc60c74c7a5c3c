package testwait_test

import (
	"testing"
	"time"

	"github.com/policygate/policygate/internal/testwait"
)

func TestUntil(t *testing.T) {
	tests := []struct {
		name      string
		within    time.Duration
		holdsFrom int // the call from which cond holds; 0 = never
		want      bool
		wantCalls int // 0 = at least two, for a condition that never holds
	}{
		{name: "holds_at_once", within: time.Second, holdsFrom: 1, want: true, wantCalls: 1},
		{name: "holds_later", within: 10 * time.Second, holdsFrom: 4, want: true, wantCalls: 4},
		{name: "holds_at_once_without_time", within: 0, holdsFrom: 1, want: true, wantCalls: 1},
		{name: "never_holds", within: 30 * time.Millisecond, holdsFrom: 0, want: false},
		{name: "never_holds_without_time", within: 0, holdsFrom: 0, want: false, wantCalls: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			got := testwait.Until(tc.within, func() bool {
				calls++
				return tc.holdsFrom > 0 && calls >= tc.holdsFrom
			})
			if got != tc.want {
				t.Errorf("Until(%v) = %v, want %v", tc.within, got, tc.want)
			}
			switch {
			case tc.wantCalls > 0 && calls != tc.wantCalls:
				t.Errorf("Until(%v) called cond %d times, want %d", tc.within, calls, tc.wantCalls)
			case tc.wantCalls == 0 && calls < 2:
				t.Errorf("Until(%v) called cond %d times, want it polled again", tc.within, calls)
			}
		})
	}
}
