package rounds

// Rotate returns a copy of s rotated left by round positions: round 0
// keeps the order, round 1 starts with s[1], and so on.
func Rotate[T any](s []T, round int) []T {
	out := make([]T, 0, len(s))
	if len(s) == 0 {
		return out
	}
	k := round % len(s)
	return append(append(out, s[k:]...), s[:k]...)
}
