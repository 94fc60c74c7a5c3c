package proxytest_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/policygate/policygate/internal/proxytest"
)

// recorder is a testing.TB that records how a helper ends the test.
type recorder struct {
	testing.TB
	ended string // "fatal", "skip" or ""
	msg   string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.ended, r.msg = "fatal", fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Skipf(format string, args ...any) {
	r.ended, r.msg = "skip", fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestFindToolMissing(t *testing.T) {
	tests := []struct {
		name string
		ci   string
		want string
	}{
		{name: "developer_machine", ci: "", want: "skip"},
		{name: "ci", ci: "true", want: "fatal"},
		{name: "ci_not_true", ci: "1", want: "skip"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			r := &recorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				proxytest.FindTool(r, "policygate-no-such-tool", "no-such-package", "/no/such/path")
			}()
			<-done
			if r.ended != tc.want {
				t.Errorf("FindTool(missing) with CI=%q ended the test with %q (%s), want %q", tc.ci, r.ended, r.msg, tc.want)
			}
		})
	}
}
