package slogzmq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/zmqlog/zmqlog"
	"github.com/zmqlog/zmqlog/topic"
)

// Options configures a Handler. The first three fields mean exactly what
// they mean in slog.HandlerOptions, so a program can swap handlers.
type Options struct {
	// Level is the minimum level shipped; nil means slog.LevelInfo.
	Level slog.Leveler
	// AddSource adds the "source" attribute, as slog.JSONHandler does.
	AddSource bool
	// ReplaceAttr rewrites attributes, with slog.JSONHandler's semantics:
	// called for the built-ins with nil groups, never for groups, and an
	// empty attribute is dropped.
	ReplaceAttr func(groups []string, a slog.Attr) slog.Attr
	// App names the application; it goes into every topic ("ERROR.app")
	// and, with NewHandler, into the shipper's batches.
	App string
	// Shipper holds options for the shipper NewHandler creates (budget,
	// linger, error handler, ...). NewShipperHandler, whose shipper is
	// made already, refuses them.
	Shipper []zmqlog.Option
	// FlushTimeout bounds Close's wait for queued records (default 5s;
	// negative is an error). With NewHandler it is the shipper's flush
	// timeout too. The same name and rule as zmqlog.WithFlushTimeout and
	// zapzmq.WithFlushTimeout.
	FlushTimeout time.Duration
}

// Compile-time check that Handler is a slog.Handler.
var _ slog.Handler = (*Handler)(nil)

// Handler is a slog.Handler that encodes records as slog.JSONHandler does,
// on the caller's goroutine, and ships them to a collector without
// waiting for the network. It is safe for concurrent use.
type Handler struct {
	c     *common
	attrs *recordFormat // this handler's WithAttrs and WithGroup, formatted
	// owned: Close and Shutdown close the shipper. Only the handler value
	// NewHandler returned owns it; WithAttrs and WithGroup clear it, so
	// closing a derived handler flushes and leaves the root shipping.
	owned bool
}

// common is what a handler and all handlers derived from it share.
type common struct {
	ship    *zmqlog.Shipper
	level   slog.Leveler
	app     string
	topics  sync.Map // slog.Level -> string, for levels beyond the named ones
	named   [4]string
	timeout time.Duration
}

// NewHandler returns a handler shipping to endpoint (one collector, or
// several separated by commas) through a shipper of its own, which Close
// closes. nil opts means the defaults. It returns at once; only a
// malformed endpoint or option is an error.
func NewHandler(endpoint string, opts *Options) (*Handler, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	var shipperOpts []zmqlog.Option
	if opts.App != "" {
		shipperOpts = append(shipperOpts, zmqlog.WithApp(opts.App))
	}
	shipperOpts = append(shipperOpts, zmqlog.WithFlushTimeout(opts.FlushTimeout))
	shipperOpts = append(shipperOpts, opts.Shipper...)
	ship, err := zmqlog.NewShipper(endpoint, shipperOpts...)
	if err != nil {
		return nil, err // zmqlog's error names the endpoint or option
	}
	h := newHandler(ship, opts)
	h.owned = true
	return h, nil
}

// NewShipperHandler returns a handler over an existing shipper, so that
// slog and zap in one program share one set of collector connections.
// Close does not close the shipper. Options that cannot apply to a
// shipper made already (Options.Shipper) are an error, not ignored.
func NewShipperHandler(ship *zmqlog.Shipper, opts *Options) (*Handler, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if len(opts.Shipper) > 0 {
		return nil, errors.New("slogzmq: Options.Shipper has no effect on a shipper made already; give its options to zmqlog.NewShipper")
	}
	return newHandler(ship, opts), nil
}

// withDefaults returns a copy of o (nil means the defaults) with its
// defaults filled in, or an error naming a value that cannot be used.
func (o *Options) withDefaults() (*Options, error) {
	var c Options
	if o != nil {
		c = *o
	}
	switch {
	case c.FlushTimeout < 0:
		return nil, fmt.Errorf("slogzmq: flush timeout %v: must not be negative", c.FlushTimeout)
	case c.FlushTimeout == 0:
		c.FlushTimeout = 5 * time.Second
	}
	return &c, nil
}

func newHandler(ship *zmqlog.Shipper, opts *Options) *Handler {
	c := &common{
		ship:    ship,
		level:   opts.Level,
		app:     opts.App,
		timeout: opts.FlushTimeout,
	}
	if c.level == nil {
		c.level = slog.LevelInfo
	}
	if c.timeout <= 0 {
		c.timeout = 5 * time.Second
	}
	for i, l := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
		c.named[i] = topic.Make(l.String(), c.app)
	}
	return &Handler{c: c, attrs: &recordFormat{addSource: opts.AddSource, replace: opts.ReplaceAttr}}
}

// topic returns the topic for a level: slog's name for it ("WARN",
// "ERROR+4"), then the app.
func (c *common) topic(l slog.Level) string {
	switch l {
	case slog.LevelDebug:
		return c.named[0]
	case slog.LevelInfo:
		return c.named[1]
	case slog.LevelWarn:
		return c.named[2]
	case slog.LevelError:
		return c.named[3]
	}
	if t, ok := c.topics.Load(l); ok {
		return t.(string)
	}
	t := topic.Make(l.String(), c.app)
	c.topics.Store(l, t)
	return t
}

// Enabled reports whether records at level are shipped.
func (h *Handler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= h.c.level.Level()
}

// Handle encodes r and queues it for shipping. It never waits for the
// network; a record that cannot be queued is dropped and counted in
// Shipper().Stats().
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	buf := recordBuffers.Get().(*[]byte)
	*buf = h.attrs.format((*buf)[:0], r)
	h.c.ship.Ship(h.c.topic(r.Level), *buf)
	if cap(*buf) <= maxPooledBuffer {
		recordBuffers.Put(buf)
	}
	return nil
}

// WithAttrs returns a handler whose records carry attrs too. Like
// slog.JSONHandler it formats them once, not per record.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return h.with(h.attrs.withAttrs(attrs))
}

// WithGroup returns a handler that nests later attributes under name.
// An empty name changes nothing, as in slog.JSONHandler.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return h.with(h.attrs.withGroup(name))
}

func (h *Handler) with(attrs *recordFormat) *Handler {
	if attrs == h.attrs {
		return h
	}
	return &Handler{c: h.c, attrs: attrs} // not owned: only the root closes the shipper
}

// Shipper returns the shipper the handler ships through, for its Stats.
func (h *Handler) Shipper() *zmqlog.Shipper { return h.c.ship }

// Flush waits until every record handled so far has been written to a
// collector connection, or ctx ends.
func (h *Handler) Flush(ctx context.Context) error {
	if err := h.c.ship.Flush(ctx); err != nil {
		return fmt.Errorf("slogzmq: %w", err)
	}
	return nil
}

// Shutdown is Close with the caller's deadline instead of FlushTimeout:
// it flushes until ctx ends, then closes the shipper if NewHandler created
// it; with a context that has already ended it returns at once, counting
// what was still queued as dropped. Derived handlers only flush.
func (h *Handler) Shutdown(ctx context.Context) error {
	if !h.owned {
		return h.Flush(ctx)
	}
	if err := h.c.ship.Shutdown(ctx); err != nil {
		return fmt.Errorf("slogzmq: %w", err)
	}
	return nil
}

// Close flushes, waiting at most Options.FlushTimeout, and closes the
// shipper if this is the handler NewHandler returned. Handlers derived
// with WithAttrs and WithGroup share the shipper and only flush, so a
// per-request logger's Close never stops the root's records.
func (h *Handler) Close() error {
	if !h.owned {
		ctx, cancel := context.WithTimeout(context.Background(), h.c.timeout)
		defer cancel()
		return h.Flush(ctx)
	}
	if err := h.c.ship.Close(); err != nil { // flushes within FlushTimeout
		return fmt.Errorf("slogzmq: %w", err)
	}
	return nil
}
