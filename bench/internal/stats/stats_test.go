package stats

import "testing"

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want float64
	}{
		{name: "empty", in: nil, want: 0},
		{name: "odd", in: []float64{3, 1, 2}, want: 2},
		{name: "even", in: []float64{4, 1, 3, 2}, want: 2.5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Median(tc.in); got != tc.want {
				t.Errorf("Median(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestPairedRatio(t *testing.T) {
	id := func(f float64) float64 { return f }
	a, b := []float64{10, 40, 90}, []float64{5, 10, 30}
	if got, want := PairedRatio(a, b, id), 3.0; got != want {
		t.Errorf("PairedRatio(%v, %v) = %v, want %v", a, b, got, want)
	}
	if got, want := MedianOf(a, id), 40.0; got != want {
		t.Errorf("MedianOf(%v) = %v, want %v", a, got, want)
	}
}
