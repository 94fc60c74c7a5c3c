package build

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Repo is the absolute path of dir, the policygate repository root named
// by a command's -repo flag; it is an error when dir's go.mod is not
// policygate's.
func Repo(dir string) (string, error) {
	repo, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if b, err := os.ReadFile(filepath.Join(repo, "go.mod")); err != nil || !strings.HasPrefix(string(b), "module github.com/policygate/policygate\n") {
		return "", fmt.Errorf("-repo %s is not the policygate repository", repo)
	}
	return repo, nil
}

// Binary is one `go build` of Pkg in Dir to Out, with Flags added.
type Binary struct {
	Dir, Pkg, Out string
	Flags         []string
}

// Run builds each binary in turn, the compiler's output going to stderr.
func Run(ctx context.Context, bins ...Binary) error {
	for _, b := range bins {
		args := append([]string{"build", "-o", b.Out}, b.Flags...)
		cmd := exec.CommandContext(ctx, "go", append(args, b.Pkg)...)
		cmd.Dir, cmd.Stdout, cmd.Stderr = b.Dir, os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build %s: %w", b.Pkg, err)
		}
	}
	return nil
}
