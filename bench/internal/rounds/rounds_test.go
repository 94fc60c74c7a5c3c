package rounds

import (
	"slices"
	"testing"
)

func TestRotate(t *testing.T) {
	tests := []struct {
		name  string
		round int
		want  []string
	}{
		{name: "first", round: 0, want: []string{"a", "b", "c"}},
		{name: "second", round: 1, want: []string{"b", "c", "a"}},
		{name: "wraps", round: 4, want: []string{"b", "c", "a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := []string{"a", "b", "c"}
			if got := Rotate(in, tc.round); !slices.Equal(got, tc.want) {
				t.Errorf("Rotate(%v, %d) = %v, want %v", in, tc.round, got, tc.want)
			}
			if !slices.Equal(in, []string{"a", "b", "c"}) {
				t.Errorf("Rotate changed its input: %v", in)
			}
		})
	}
	if got := Rotate([]string(nil), 3); len(got) != 0 {
		t.Errorf("Rotate(nil, 3) = %v, want empty", got)
	}
}
