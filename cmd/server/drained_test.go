package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// TestDrained: a drain cut at the shutdown bound is logged, not a failed
// exit; any other shutdown error is one.
func TestDrained(t *testing.T) {
	broken := errors.New("close listener: broken")
	tests := []struct {
		name    string
		errs    []error
		wantErr string // "" for none
		wantLog string // "" for none
	}{
		{name: "clean", errs: []error{nil, nil, nil}},
		{name: "cut_at_bound", errs: []error{context.DeadlineExceeded, nil, fmt.Errorf("grpc: %w", context.DeadlineExceeded)}, wantLog: "cut"},
		{name: "other_error", errs: []error{nil, broken, nil}, wantErr: "broken"},
		{name: "both", errs: []error{context.DeadlineExceeded, broken}, wantErr: "broken", wantLog: "cut"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			err := drained(slog.New(slog.NewTextHandler(&logs, nil)), tt.errs...)
			if (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("drained() = %v, want an error containing %q", err, tt.wantErr)
			}
			if got := logs.String(); (tt.wantLog == "") != (got == "") || !strings.Contains(got, tt.wantLog) {
				t.Errorf("logged %q, want %q", got, tt.wantLog)
			}
		})
	}
}
