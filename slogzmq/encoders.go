package slogzmq

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
)

// encoders hands out slog handlers built by base (a slog.TextHandler)
// with a fixed chain of WithAttrs and WithGroup calls applied, each
// writing into a writer of its own. A Handle call takes one from the
// pool, so no two calls share a writer and the key set for a call is that
// call's. Only AddToDefault's stand-in for slog's built-in handler uses
// it now: each With makes a pool, and a pool miss replays the whole chain,
// which Handler avoided by formatting with jsonFormat instead.
type encoders struct {
	base    func(w io.Writer) slog.Handler
	deliver func(key string, entry []byte) // gets each record's bytes, less the line ending
	ops     []op
	pool    sync.Pool
}

// op is one WithAttrs (attrs set) or WithGroup (group set) call.
type op struct {
	attrs []slog.Attr
	group string
}

type encoder struct {
	h slog.Handler
	w *callWriter
}

// callWriter passes what the handler writes for one record, with that
// record's key, to deliver. slog's handlers write each record whole, with
// one Write call.
type callWriter struct {
	deliver func(key string, entry []byte)
	key     string
}

func (w *callWriter) Write(p []byte) (int, error) {
	w.deliver(w.key, bytes.TrimSuffix(p, []byte("\n")))
	return len(p), nil
}

func newEncoders(base func(io.Writer) slog.Handler, deliver func(string, []byte), ops []op) *encoders {
	e := &encoders{base: base, deliver: deliver, ops: ops}
	e.pool.New = func() any {
		w := &callWriter{deliver: deliver}
		h := base(w)
		for _, o := range ops {
			if o.attrs != nil {
				h = h.WithAttrs(o.attrs)
			} else {
				h = h.WithGroup(o.group)
			}
		}
		return &encoder{h: h, w: w}
	}
	return e
}

// handle encodes r with a pooled encoder and delivers it under key.
func (e *encoders) handle(ctx context.Context, r slog.Record, key string) error {
	enc := e.pool.Get().(*encoder)
	enc.w.key = key
	err := enc.h.Handle(ctx, r)
	e.pool.Put(enc)
	return err
}

// with returns encoders for one more WithAttrs or WithGroup call, or e
// itself when the call changes nothing (no attrs, empty group name), as
// slog's handlers do.
func (e *encoders) with(o op) *encoders {
	if (o.attrs == nil && o.group == "") || (o.attrs != nil && len(o.attrs) == 0) {
		return e
	}
	if o.attrs != nil {
		o.attrs = slices.Clone(o.attrs) // WithAttrs owns the slice, we keep a copy
	}
	return newEncoders(e.base, e.deliver, append(slices.Clip(e.ops), o)) // never share an append target
}
