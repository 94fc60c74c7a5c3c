package main

import (
	"os/exec"
	"slices"
	"testing"
)

func TestPinToRunsTheTargetUnderTaskset(t *testing.T) {
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		t.Skip("taskset (util-linux) is not installed")
	}
	cmd := exec.Command("/work/policygate", "-addr", "127.0.0.1:1")
	if err := pinTo(cmd, "1"); err != nil {
		t.Fatal(err)
	}
	if want := []string{taskset, "-c", "1", "/work/policygate", "-addr", "127.0.0.1:1"}; !slices.Equal(cmd.Args, want) {
		t.Errorf("Args = %q, want %q", cmd.Args, want)
	}
	if cmd.Path != taskset {
		t.Errorf("Path = %q, want %q", cmd.Path, taskset)
	}
}
