package stats

import "slices"

// Median is the median of v (0 when v is empty); it sorts v.
func Median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// MedianOf is the median of f over rs.
func MedianOf[T any](rs []T, f func(T) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	return Median(v)
}

// PairedRatio is the median over rounds of f(a[i]) / f(b[i]): the two ran
// seconds apart, so a change in the machine's other load between rounds
// cancels out of it.
func PairedRatio[T any](a, b []T, f func(T) float64) float64 {
	v := make([]float64, min(len(a), len(b)))
	for i := range v {
		v[i] = f(a[i]) / f(b[i])
	}
	return Median(v)
}
