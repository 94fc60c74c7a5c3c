package wrk

import (
	"errors"
	"maps"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    Result
		wantErr error
	}{
		{
			name: "clean_run",
			out: "Running 1s test @ http://127.0.0.1:1/\n" +
				"RESULT requests=1200 duration_us=1000500 p50_us=800 p99_us=4100 connect=0 read=0 write=0 status=0 timeout=0\n",
			want: Result{Requests: 1200, DurationUS: 1000500, P50US: 800, P99US: 4100, Errs: map[string]int{}},
		},
		{
			name: "socket_errors",
			out:  "  RESULT requests=10 duration_us=1000000 p50_us=1 p99_us=2 connect=0 read=3 write=0 status=1 timeout=0",
			want: Result{Requests: 10, DurationUS: 1000000, P50US: 1, P99US: 2, Errs: map[string]int{"read": 3, "status": 1}},
		},
		{name: "no_result", out: "wrk: connection refused\n", wantErr: ErrNoResult},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.out)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Parse(%q) error = %v, want %v", tc.out, err, tc.wantErr)
			}
			if got.Requests != tc.want.Requests || got.DurationUS != tc.want.DurationUS ||
				got.P50US != tc.want.P50US || got.P99US != tc.want.P99US || !maps.Equal(got.Errs, tc.want.Errs) {
				t.Errorf("Parse(%q) = %+v, want %+v", tc.out, got, tc.want)
			}
		})
	}
}
