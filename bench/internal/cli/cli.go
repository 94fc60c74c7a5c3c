package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Main calls run with a context that ends on SIGINT, SIGTERM or after
// budget, and with standard output; it exits with status 1 when run
// fails. Call it last in main.
func Main(name string, budget time.Duration, run func(context.Context, io.Writer) error) {
	if err := runBounded(budget, run, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

func runBounded(budget time.Duration, run func(context.Context, io.Writer) error, out io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	return run(ctx, out)
}
