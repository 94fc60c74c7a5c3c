package authn

import (
	"regexp"
	"strings"
	"testing"
)

// isToken68 scans eight bytes a step: a bad byte or "=" at every position
// of tokens around that step must give the grammar's answer.
func TestIsToken68(t *testing.T) {
	grammar := regexp.MustCompile(`^[A-Za-z0-9._~+/-]+=*$`)
	for n := range 26 {
		base := strings.Repeat("aZ9-._~+/", 3)[:n]
		cases := []string{base, base + "=", base + "==", "=" + base}
		for i := range n {
			for _, c := range []byte{' ', '=', '%', 0, 0x80, 0xff, ','} {
				b := []byte(base)
				b[i] = c
				cases = append(cases, string(b))
			}
			cases = append(cases, base[:i]+strings.Repeat("=", n-i))
		}
		for _, s := range cases {
			if got, want := isToken68(s), grammar.MatchString(s); got != want {
				t.Errorf("isToken68(%q) = %v, want %v", s, got, want)
			}
		}
	}
}
