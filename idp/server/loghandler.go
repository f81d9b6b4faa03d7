package server

import (
	"context"
	"log/slog"
)

// LogHandler wraps h so that a record logged with the context of a request
// (slog's ...Context methods, as the directory connector does) carries the
// request's reference ID as request_id, unless the record or the logger
// already has one. With it, every line of one request can be found by the
// ID printed on the employee's page.
func LogHandler(h slog.Handler) slog.Handler { return ridHandler{next: h} }

type ridHandler struct {
	next slog.Handler
	has  bool // a request_id attribute was added with WithAttrs
}

func (h ridHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h ridHandler) Handle(ctx context.Context, r slog.Record) error {
	if h.has {
		return h.next.Handle(ctx, r)
	}
	rid := RequestIDFromContext(ctx)
	if rid == "" {
		return h.next.Handle(ctx, r)
	}
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == "request_id"
		return !found
	})
	if !found {
		r = r.Clone()
		r.AddAttrs(slog.String("request_id", rid))
	}
	return h.next.Handle(ctx, r)
}

func (h ridHandler) WithAttrs(as []slog.Attr) slog.Handler {
	has := h.has
	for _, a := range as {
		has = has || a.Key == "request_id"
	}
	return ridHandler{next: h.next.WithAttrs(as), has: has}
}

func (h ridHandler) WithGroup(name string) slog.Handler {
	return ridHandler{next: h.next.WithGroup(name), has: h.has}
}
