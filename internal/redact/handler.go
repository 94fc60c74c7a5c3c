package redact

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
)

// Handler wraps h so that every record it handles has URLs applied to its
// message and to every string, error and Stringer attribute (in groups
// too): for log lines whose text comes from code we do not own, such as
// OPA's bundle downloader quoting a signed URL.
func Handler(h slog.Handler) slog.Handler { return handler{h} }

type handler struct{ next slog.Handler }

func (h handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h handler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, URLs(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = attr(a)
	}
	return handler{h.next.WithAttrs(clean)}
}

func (h handler) WithGroup(name string) slog.Handler { return handler{h.next.WithGroup(name)} }

// attr redacts the text of one attribute. Values of other kinds (numbers,
// times, structs logged as any) are kept as they are.
func attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, URLs(v.String()))
	case slog.KindGroup:
		group := v.Group()
		clean := make([]any, len(group))
		for i, g := range group {
			clean[i] = attr(g)
		}
		return slog.Group(a.Key, clean...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, URLs(safeText(x, x.Error)))
		case interface{ String() string }:
			return slog.String(a.Key, URLs(safeText(x, x.String)))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// safeText is text() for x, as slog itself writes a value: "<nil>" for a
// nil pointer and the panic for a method that panics, never a crash of
// the goroutine that logs (OPA's plugins log from their own).
func safeText(x any, text func() string) (s string) {
	if v := reflect.ValueOf(x); v.Kind() == reflect.Pointer && v.IsNil() {
		return "<nil>"
	}
	defer func() {
		if r := recover(); r != nil {
			s = fmt.Sprintf("!PANIC: %v", r)
		}
	}()
	return text()
}
