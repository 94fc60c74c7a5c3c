package cli

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"
)

func TestRunBounded(t *testing.T) {
	waitForEnd := func(ctx context.Context, _ io.Writer) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Second):
			return errors.New("budget not applied")
		}
	}
	if err := runBounded(10*time.Millisecond, waitForEnd, io.Discard); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("runBounded(10ms, wait) = %v, want %v", err, context.DeadlineExceeded)
	}
	ok := func(context.Context, io.Writer) error { return nil }
	if err := runBounded(time.Second, ok, io.Discard); err != nil {
		t.Errorf("runBounded(1s, ok) = %v, want nil", err)
	}
}
