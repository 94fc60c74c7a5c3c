package redact

import (
	"bytes"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	const signed = "https://blob.example/b.tar.gz?sig=S3CRET"
	u, _ := url.Parse("https://user:PASS@idp.example/keys")
	tests := []struct {
		name string
		log  func(l *slog.Logger)
		want string
	}{
		{name: "message", log: func(l *slog.Logger) { l.Info("Bundle load failed: Get " + signed) }, want: `msg="Bundle load failed: Get https://blob.example/b.tar.gz?***"`},
		{name: "string_attr", log: func(l *slog.Logger) { l.Info("x", "url", signed) }, want: `url=https://blob.example/b.tar.gz?***`},
		{name: "error_attr", log: func(l *slog.Logger) { l.Warn("x", "err", errors.New("fetch jwks "+signed+": refused")) }, want: `err="fetch jwks https://blob.example/b.tar.gz?***: refused"`},
		{name: "stringer_attr", log: func(l *slog.Logger) { l.Info("x", "url", u) }, want: `url=https://***@idp.example/keys`},
		{name: "group_attr", log: func(l *slog.Logger) { l.Info("x", slog.Group("bundle", "err", signed)) }, want: `bundle.err=https://blob.example/b.tar.gz?***`},
		{name: "with_attrs", log: func(l *slog.Logger) { l.With("resource", signed).Info("x") }, want: `resource=https://blob.example/b.tar.gz?***`},
		{name: "other_kinds_kept", log: func(l *slog.Logger) { l.Info("plain", "n", 3, "ok", true) }, want: `msg=plain n=3 ok=true`},
		{name: "nil_pointer_error", log: func(l *slog.Logger) { l.Info("x", "err", error((*pointerError)(nil))) }, want: `err=<nil>`},
		{name: "panicking_stringer", log: func(l *slog.Logger) { l.Info("x", "v", panicking{}) }, want: `v="!PANIC: boom"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			tc.log(slog.New(Handler(slog.NewTextHandler(&out, &slog.HandlerOptions{ReplaceAttr: dropTime}))))
			if got := out.String(); !strings.Contains(got, tc.want) || strings.Contains(got, "S3CRET") || strings.Contains(got, "PASS") {
				t.Errorf("logged %q, want it to contain %q and no secret", got, tc.want)
			}
		})
	}
}

func dropTime(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

type pointerError struct{ msg string }

func (e *pointerError) Error() string { return e.msg }

type panicking struct{}

func (panicking) String() string { panic("boom") }
