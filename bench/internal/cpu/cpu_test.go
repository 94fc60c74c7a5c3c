package cpu

import (
	"os"
	"testing"
)

func TestProcessAndMachine(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc here:", err)
	}
	x := 0
	for i := range 50_000_000 {
		x += i
	}
	_ = x
	if got := Process(os.Getpid()); got <= 0 {
		t.Errorf("Process(self) = %v, want > 0", got)
	}
	if got := MachineBusy(); got <= 0 {
		t.Errorf("MachineBusy() = %v, want > 0", got)
	}
	if got := Process(-1); got != 0 {
		t.Errorf("Process(-1) = %v, want 0", got)
	}
}
